"""Dataset preparation, self-blended fakes, the PyTorch model, training, evaluation and export."""
