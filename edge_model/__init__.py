"""The deployed model's run time: media reading, face detection (shipped ONNX), tracking, the
face-crop contract, the ONNX encoder and temporal head, the decision rule, model manifests.

May import: numpy, opencv, onnxruntime, PyAV. Imports nothing of ours and never torch; the live
system, training and the benchmarks all build on it.
"""
