"""The deployed model's run time: detection, tracking, the crop contract, ONNX inference.

numpy, opencv and onnxruntime only: never torch.
"""
