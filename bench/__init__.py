"""CPU benchmarks that write their results to a file."""
