"""The live system: sources, capture, the frame ring, ZeroMQ, workers, alerts, console and CLI."""
