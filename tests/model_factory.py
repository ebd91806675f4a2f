"""A tiny but real model folder for tests, built with onnx.helper (no torch needed).

The encoder pools colour and a coarse layout of the crop; the temporal head
averages the window and applies a logistic layer. `bias` lets a test ask for a
model that calls everything fake (large bias) or real (negative bias).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge_model.crop import CropSpec
from edge_model.manifest import (
    ENCODER_INPUT,
    ENCODER_OUTPUT,
    TEMPORAL_INPUT,
    TEMPORAL_OUTPUT,
    Manifest,
    write_manifest,
)

OPSET = [helper.make_opsetid("", 17)]


def _encoder(size: int, dim: int, rng: np.random.Generator) -> onnx.ModelProto:
    pooled = 3 * 4 * 4
    w = numpy_helper.from_array(rng.normal(0, 1.0, (pooled, dim)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(dim, np.float32), "b")
    nodes = [
        helper.make_node("AveragePool", [ENCODER_INPUT], ["p"], kernel_shape=[size // 4] * 2, strides=[size // 4] * 2),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w", "b"], ["g"]),
        helper.make_node("Tanh", ["g"], [ENCODER_OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_encoder",
        [helper.make_tensor_value_info(ENCODER_INPUT, TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info(ENCODER_OUTPUT, TensorProto.FLOAT, ["N", dim])],
        [w, b],
    )
    return helper.make_model(graph, opset_imports=OPSET)


def _temporal(dim: int, bias: float, rng: np.random.Generator) -> onnx.ModelProto:
    w = numpy_helper.from_array(rng.normal(0, 0.5, (dim, 1)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.array([bias], np.float32), "b")
    shape = numpy_helper.from_array(np.array([-1], np.int64), "shape")
    nodes = [
        helper.make_node("ReduceMean", [TEMPORAL_INPUT], ["m"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["m", "w"], ["z0"]),
        helper.make_node("Add", ["z0", "b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], [TEMPORAL_OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_temporal",
        [helper.make_tensor_value_info(TEMPORAL_INPUT, TensorProto.FLOAT, ["B", "T", dim])],
        [helper.make_tensor_value_info(TEMPORAL_OUTPUT, TensorProto.FLOAT, ["B"])],
        [w, b, shape],
    )
    return helper.make_model(graph, opset_imports=OPSET)


def make_tiny_model(
    folder: Path, *, size: int = 64, dim: int = 16, window: int = 4, hop: int = 2,
    bias: float = 0.0, threshold: float = 0.5, seed: int = 0,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    onnx.save(_encoder(size, dim, rng), folder / "encoder.onnx")
    onnx.save(_encoder(size, dim, np.random.default_rng(seed)), folder / "encoder_fp32.onnx")
    onnx.save(_temporal(dim, bias, rng), folder / "temporal.onnx")
    manifest = Manifest(
        model_id=f"tiny-test-{size}-b{bias:g}",
        crop=CropSpec(size=size),
        window=window,
        hop=hop,
        feature_dim=dim,
        threshold=threshold,
        encoder_fp32="encoder_fp32.onnx",
        training={"note": "random weights, made by tests/model_factory.py for tests only"},
    )
    write_manifest(folder, manifest)
    return folder
