"""Int8 tuning: the fp32 encoder's ONNX graph run in PyTorch, ONNX Runtime's int8 rounding simulated, and a
tuned copy whose int8 version loses less."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from edge_model.errors import DfdError
from edge_model.manifest import ENCODER_INPUT, ENCODER_OUTPUT
from edge_model.runner import make_session
from training.int8_tuning import OnnxEncoder, TuningOptions, tune_for_int8
from training.onnx_export import quantize_encoder

SIZE = 16


def _encoder(path: Path, extra: list | None = None, named: bool = True) -> Path:
    """A small encoder of the ops `dfd export` writes: a stem with SAME padding folded (0, 0, 1, 1), ReLU6,
    a depthwise convolution, a residual, the global mean, the projection and its LayerNorm; its nodes named
    as the exporter names them, or not at all."""
    rng = np.random.default_rng(0)

    def init(name: str, *shape: int, scale: float = 0.3) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [init("w0", 8, 3, 3, 3), init("b0", 8), init("w1", 8, 1, 3, 3), init("b1", 8), init("w2", 8, 8, 1, 1),
             init("b2", 8), init("g", 6, 8), init("gb", 6), init("ln", 6, scale=1.0), init("lb", 6),
             numpy_helper.from_array(np.float32(0), "lo"), numpy_helper.from_array(np.float32(6), "hi")]
    nodes = [
        helper.make_node("Conv", [ENCODER_INPUT, "w0", "b0"], ["c0"], strides=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node("Clip", ["c0", "lo", "hi"], ["r0"]),
        helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], group=8, pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c1", "lo", "hi"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"]),
        helper.make_node("Add", ["c2", "r0"], ["s"]),
        helper.make_node("ReduceMean", ["s"], ["m"], axes=[2, 3], keepdims=0),
        helper.make_node("Gemm", ["m", "g", "gb"], ["p"], transB=1),
        helper.make_node("LayerNormalization", ["p", "ln", "lb"], [ENCODER_OUTPUT], axis=-1, epsilon=1e-5),
        *(extra or []),
    ]
    for i, node in enumerate(nodes if named else []):
        node.name = f"{node.op_type.lower()}_{i}"
    graph = helper.make_graph(nodes, "enc", [helper.make_tensor_value_info(ENCODER_INPUT, TensorProto.FLOAT,
                                                                           ["n", 3, SIZE, SIZE])],
                              [helper.make_tensor_value_info(ENCODER_OUTPUT, TensorProto.FLOAT, ["n", 6])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _crops(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, SIZE, SIZE)).astype(np.float32)


@pytest.fixture()
def quantized(tmp_path: Path) -> tuple[Path, Path]:
    fp32 = _encoder(tmp_path / "fp32.onnx")
    quantize_encoder(fp32, tmp_path / "int8.onnx", [_crops(32)])
    return fp32, tmp_path / "int8.onnx"


def _int8_weights(path: Path) -> set[str]:
    return {t.name for t in onnx.load(str(path)).graph.initializer if t.data_type == TensorProto.INT8}


@pytest.mark.parametrize("named", [True, False])
def test_only_the_float_part_stays_float_named_nodes_or_not(tmp_path: Path, named: bool):
    fp32 = _encoder(tmp_path / "fp32.onnx", named=named)
    quantize_encoder(fp32, tmp_path / "int8.onnx", [_crops(32)], float_convs=1)
    weights = _int8_weights(tmp_path / "int8.onnx")
    assert not any(w.startswith("w0") for w in weights)  # the stem
    assert any(w.startswith("w1") for w in weights) and any(w.startswith("w2") for w in weights)


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    return make_session(path, 1).run(None, {ENCODER_INPUT: x})[0]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_the_graph_run_in_pytorch_is_onnx_runtimes_fp32(quantized):
    fp32, _ = quantized
    net = OnnxEncoder(fp32)
    x = _crops(8, seed=2)
    with torch.no_grad():
        np.testing.assert_allclose(net(torch.from_numpy(x)).numpy(), _run(fp32, x), atol=1e-5)


def test_rounding_is_simulated_where_the_quantizer_put_it(quantized):
    fp32, int8 = quantized
    net = OnnxEncoder(fp32, int8)
    quantized_inputs = {n.input[0] for n in onnx.load(str(int8)).graph.node if n.op_type == "QuantizeLinear"}
    assert set(net.activations) == quantized_inputs and ENCODER_INPUT in quantized_inputs  # no float convolution
    assert net.int8_weights == {"w0", "w1", "w2", "g"}
    x = _crops(64, seed=2)
    with torch.no_grad():
        simulated = net(torch.from_numpy(x)).numpy()
    reference, ours = _run(fp32, x), _run(int8, x)
    # The simulation loses about what ONNX Runtime's int8 loses, and lies nearer to it than fp32 does.
    assert 0.5 < _rel(simulated, reference) / _rel(ours, reference) < 2.0
    assert _rel(simulated, ours) < _rel(ours, reference)


def test_the_tuned_copys_int8_loses_less(quantized, tmp_path):
    fp32, int8 = quantized
    report = tune_for_int8(fp32, int8, _crops(512), tmp_path / "tuned.onnx", TuningOptions(steps=150, lr=3e-4, batch=32),
                           log=lambda line: None)
    assert report["simulated_rel_error"]["after"] < report["simulated_rel_error"]["before"]
    quantize_encoder(tmp_path / "tuned.onnx", tmp_path / "tuned_int8.onnx", [_crops(32)])
    x = _crops(256, seed=3)  # crops neither the calibration nor the tuning saw
    reference = _run(fp32, x)
    assert _rel(_run(tmp_path / "tuned_int8.onnx", x), reference) < _rel(_run(int8, x), reference)
    assert onnx.load(str(fp32)).graph.input == onnx.load(str(tmp_path / "tuned.onnx")).graph.input


def test_an_op_it_cannot_run_is_refused(tmp_path):
    odd = _encoder(tmp_path / "odd.onnx", [helper.make_node("Tanh", [ENCODER_OUTPUT], ["t"])])
    with pytest.raises(DfdError, match="has a Tanh node"):
        OnnxEncoder(odd)
