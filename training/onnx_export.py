"""ONNX export of the encoder and the temporal head, and static int8 quantization of the encoder.

Static QDQ, per-channel weights, activations calibrated on real face crops:
dynamic quantization measured 4-8x slower than fp32 for this CNN and its
features drifted (cosine 0.82), so it is not used. The first convolutions stay
float: int8 error starts at the high-resolution stem and compounds through the
network (training/reports/int8_parity.md), while those layers hold little of
the int8 speed-up.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from edge_model.errors import DfdError
from edge_model.manifest import ENCODER_INPUT, ENCODER_OUTPUT, TEMPORAL_INPUT, TEMPORAL_OUTPUT
from training.model import DeepfakeDetector, ProbabilityHead

OPSET = 17


def export_encoder(model: DeepfakeDetector, size: int, path: Path) -> None:
    dummy = torch.zeros(2, 3, size, size)
    with warnings.catch_warnings():  # tracer notes about the fixed SAME padding and the RNN
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.encoder.eval(), (dummy,), str(path), input_names=[ENCODER_INPUT], output_names=[ENCODER_OUTPUT],
            dynamic_axes={ENCODER_INPUT: {0: "n"}, ENCODER_OUTPUT: {0: "n"}}, opset_version=OPSET, dynamo=False,
        )


def export_temporal(model: DeepfakeDetector, window: int, path: Path) -> None:
    dummy = torch.zeros(2, window, model.encoder.dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            ProbabilityHead(model.temporal).eval(), (dummy,), str(path), input_names=[TEMPORAL_INPUT],
            output_names=[TEMPORAL_OUTPUT], dynamic_axes={TEMPORAL_INPUT: {0: "b"}, TEMPORAL_OUTPUT: {0: "b"}},
            opset_version=OPSET, dynamo=False,
        )


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over batches of normalized real crops."""

    def __init__(self, batches: Iterator[np.ndarray]) -> None:
        self.batches = batches

    def get_next(self) -> dict | None:
        batch = next(self.batches, None)
        return None if batch is None else {ENCODER_INPUT: batch}


def float_part(graph, first_int8_conv: int) -> list[str]:
    """The nodes that the input of the graph's `first_int8_conv`-th Conv (0-based) depends on.

    Found by walking the producers back from that input, so it does not lean on the tracer's node names.
    """
    convs = [n for n in graph.node if n.op_type == "Conv"]
    if not 0 <= first_int8_conv < len(convs):
        raise DfdError(f"--float-convs must be in [0, {len(convs) - 1}] for this encoder, not {first_int8_conv}")
    producer = {out: i for i, n in enumerate(graph.node) for out in n.output}
    seen: set[int] = set()
    todo = [convs[first_int8_conv].input[0]] if first_int8_conv else []
    while todo:
        i = producer.get(todo.pop())
        if i is not None and i not in seen:
            seen.add(i)
            todo.extend(graph.node[i].input)
    return [graph.node[i].name for i in sorted(seen)]


def quantize_encoder(fp32: Path, int8: Path, calibration: list[np.ndarray], float_convs: int = 0) -> None:
    """Static int8 QDQ with per-channel weights, calibrated on `calibration` (normalized NCHW batches).

    The first `float_convs` convolutions, and every node before them, stay float.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepped = int8.with_suffix(".prep.onnx")
    quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
    graph = onnx.load(str(prepped)).graph
    layer_norms = [n.name for n in graph.node if n.op_type == "LayerNormalization"]
    try:
        quantize_static(
            str(prepped), str(int8), _Calibration(iter(calibration)),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            # Every op type: limiting them to Conv/Gemm left each Conv's output quantized over its
            # pre-ReLU6 range (about +-90), which cost the features a cosine of 0.83 to fp32.
            nodes_to_exclude=layer_norms + float_part(graph, float_convs),  # the projection's LayerNorm stays float
        )
    finally:
        prepped.unlink(missing_ok=True)
