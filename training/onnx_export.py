"""ONNX export of the encoder and the temporal head, and static int8 quantization of the encoder.

Static QDQ, per-channel weights, activations calibrated on real face crops:
dynamic quantization measured 4-8x slower than fp32 for this CNN and its
features drifted (cosine 0.82), so it is not used. The first convolutions stay
float: int8 error starts at the high-resolution stem and compounds through the
network (training/reports/int8_parity.md, and size_160/int8_parity.md for the
160 px model), while those layers hold little of the int8 speed-up.
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
    freeze_pads(path, size)


def freeze_pads(path: Path, size: int) -> int:
    """Make every Pad's amounts constant for the fixed `size` x `size` input and fold them into the
    convolution that follows; returns how many Pads went.

    EfficientNet's SAME padding reads the input's shape, so the tracer (the batch dimension is dynamic)
    writes a chain of Shape/Gather/Sub/Div/Concat/Reshape/Slice ops before each Pad, and ONNX Runtime ran
    them, and the Pad's copy, on every call: a third of the encoder's time on a CPU without VNNI. The
    amounts depend on the height and width only, which the crop contract fixes: they are evaluated at two
    batch sizes, and only amounts equal at both are frozen. A convolution pads with zeros itself, so the
    model computes the same function (its float sums may round differently, by about 1e-6). An int8
    encoder quantized before this existed is folded the same way.
    """
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    constants = {init.name for init in model.graph.initializer}
    pads = [n for n in model.graph.node if n.op_type == "Pad" and len(n.input) > 1 and n.input[1] not in constants]
    if not pads:
        return 0
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in dict.fromkeys(n.input[1] for n in pads):
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT64, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    values = [dict(zip(outputs, session.run(None, {ENCODER_INPUT: np.zeros((n, 3, size, size), np.float32)})))
              for n in (1, 3)]
    consumers: dict[str, list] = {}  # a fold rewires only a Pad's input, never what reads a Pad's output
    for n in model.graph.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    folded = 0
    for node in pads:
        amounts = values[0][node.input[1]]
        if not np.array_equal(amounts, values[1][node.input[1]]):
            raise DfdError(f"{path.name}: {node.name}'s padding depends on the batch size")
        folded += _fold_into_conv(model.graph, consumers, node, amounts.astype(np.int64))
    _drop_unused(model.graph)
    onnx.save(model, str(path))
    return folded


def _fold_into_conv(graph, consumers: dict[str, list], pad, amounts: np.ndarray) -> int:
    """Zero padding of H and W before a Conv (directly, or through the int8 graph's QuantizeLinear ->
    DequantizeLinear, where 0.0 stays 0.0) becomes the Conv's own `pads`; 1 when folded, else 0 and the
    Pad keeps its amounts as a constant."""
    from onnx import helper, numpy_helper

    chain, out = [], pad.output[0]
    while len(consumers.get(out, [])) == 1 and consumers[out][0].op_type in ("QuantizeLinear", "DequantizeLinear"):
        chain.append(consumers[out][0])
        out = chain[-1].output[0]
    conv = consumers.get(out, [None])[0] if len(consumers.get(out, [])) == 1 else None
    mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
    attrs = {a.name: a for a in conv.attribute} if conv is not None and conv.op_type == "Conv" else None
    zero_value = len(pad.input) < 3 or not pad.input[2]
    spatial_only = len(amounts) == 8 and not amounts[[0, 1, 4, 5]].any() and (amounts >= 0).all()
    if attrs is None or mode != b"constant" or not zero_value or not spatial_only or (
            "auto_pad" in attrs and attrs["auto_pad"].s not in (b"", b"NOTSET")):
        name = f"{pad.name}/frozen_pads"
        graph.initializer.append(numpy_helper.from_array(amounts, name))
        pad.input[1] = name
        return 0
    before = list(attrs["pads"].ints) if "pads" in attrs else [0, 0, 0, 0]
    added = [amounts[2], amounts[3], amounts[6], amounts[7]]
    if "pads" in attrs:
        conv.attribute.remove(attrs["pads"])
    conv.attribute.append(helper.make_attribute("pads", [int(a + b) for a, b in zip(before, added)]))
    first = chain[0] if chain else conv
    first.input[0] = pad.input[0]
    return 1


def _drop_unused(graph) -> None:
    """Remove the nodes (and initializers) that no graph output depends on any more."""
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    unused = [init for init in graph.initializer if init.name not in needed]
    for init in unused:
        graph.initializer.remove(init)


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


def _name_nodes(graph) -> bool:
    """Names every unnamed node (op type and position); True if any was. The quantizer excludes nodes by name,
    so one unnamed node in the float part would have excluded every unnamed node of the graph."""
    taken = {n.name for n in graph.node}
    renamed = False
    for i, node in enumerate(graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)
            renamed = True
    return renamed


def quantize_encoder(fp32: Path, int8: Path, calibration: list[np.ndarray], float_convs: int = 0) -> None:
    """Static int8 QDQ with per-channel weights, calibrated on `calibration` (normalized NCHW batches).

    The first `float_convs` convolutions, and every node before them, stay float.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepped = int8.with_suffix(".prep.onnx")
    quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
    model = onnx.load(str(prepped))
    if _name_nodes(model.graph):
        onnx.save(model, str(prepped))
    graph = model.graph
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
