"""Dataset preparation, augmentation, self-blended and swapped fakes, the PyTorch CNN + RNN,
training, evaluation and metrics, ONNX export and int8 quantization.

May import: edge_model (the crop contract, media reader, pipeline builder, manifest), torch,
torchvision, scikit-learn. Never imports stream: preparing data needs no live system.
"""
