"""CPU benchmarks (model latency, stream capacity, capture-to-alert latency, memory, soak) that
write their results to a file.

May import: edge_model and stream (it measures them as a user runs them). Never torch.
"""
