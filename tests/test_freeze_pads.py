"""SAME padding in an exported encoder: its amounts are frozen for the contract's input size and folded into the
convolutions, and the outputs do not move (fp32 and an int8 encoder quantized before the fold)."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from edge_model.errors import DfdError
from edge_model.manifest import ENCODER_INPUT
from training.onnx_export import freeze_pads, quantize_encoder

SIZE = 24


class SamePadNet(torch.nn.Module):
    """Two strided convolutions with TF-style SAME padding computed from the input's shape, as EfficientNet's
    port does; `mode` and `channels` make Pads that a convolution cannot take over."""

    def __init__(self, mode: str = "constant", channels: int = 0, by_batch: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.convs = torch.nn.ModuleList([torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.Conv2d(8, 8, 3, stride=2)])
        self.mode, self.channels, self.by_batch = mode, channels, by_batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            h, w = x.shape[-2:]
            ph = max((math.ceil(h / 2) - 1) * 2 + 3 - h, 0)
            pw = max((math.ceil(w / 2) - 1) * 2 + 3 - w, 0)
            extra = x.shape[0] if self.by_batch else 0
            x = F.relu(conv(F.pad(x, [pw // 2, pw - pw // 2 + extra, ph // 2, ph - ph // 2], mode=self.mode)))
        if self.channels:
            x = F.pad(x, [0, 0, 0, 0, 0, self.channels])
        return x.mean(dim=(2, 3))


def export(net: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():  # the tracer's notes about shapes read as numbers, as in export_encoder
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (torch.zeros(2, 3, SIZE, SIZE),), str(path), input_names=[ENCODER_INPUT],
                          output_names=["features"], dynamic_axes={ENCODER_INPUT: {0: "n"}, "features": {0: "n"}},
                          opset_version=17, dynamo=False)
    return path


def outputs(path: Path, batches: list[np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [session.run(None, {ENCODER_INPUT: x})[0] for x in batches]


def ops(path: Path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


@pytest.fixture
def batches() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.normal(0, 1, (n, 3, SIZE, SIZE)).astype(np.float32) for n in (1, 2, 5)]


def test_fp32_padding_is_folded_into_the_convolutions_and_the_outputs_stay(tmp_path, batches):
    path = export(SamePadNet(), tmp_path / "net.onnx")
    before = outputs(path, batches)
    assert ops(path)["Pad"] == 2 and ops(path)["Shape"] > 0
    assert freeze_pads(path, SIZE) == 2
    assert not {"Pad", "Shape", "Gather", "Concat"} & set(ops(path)), ops(path)
    for a, b in zip(before, outputs(path, batches)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_an_int8_encoder_quantized_before_the_fold_gives_the_same_outputs_after_it(tmp_path, batches):
    fp32 = export(SamePadNet(), tmp_path / "net.onnx")
    int8 = tmp_path / "net_int8.onnx"
    quantize_encoder(fp32, int8, [b for b in batches])
    before = outputs(int8, batches)
    assert freeze_pads(int8, SIZE) == 2
    assert "Pad" not in ops(int8) and ops(int8)["Conv"] == 2
    for a, b in zip(before, outputs(int8, batches)):
        np.testing.assert_array_equal(a, b)


def test_pads_a_convolution_cannot_take_keep_their_frozen_amounts(tmp_path, batches):
    path = export(SamePadNet(mode="reflect", channels=4), tmp_path / "net.onnx")
    before = outputs(path, batches)
    assert freeze_pads(path, SIZE) == 0
    assert ops(path)["Pad"] == 3 and "Shape" not in ops(path)
    for a, b in zip(before, outputs(path, batches)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_padding_that_depends_on_the_batch_size_is_refused(tmp_path):
    path = export(SamePadNet(by_batch=True), tmp_path / "net.onnx")
    with pytest.raises(DfdError, match="depends on the batch size"):
        freeze_pads(path, SIZE)


def test_the_packaged_encoders_run_no_shape_arithmetic_and_no_pad():
    folder = Path(__file__).parents[1] / "edge_model" / "models" / "default"
    for name in ("encoder.onnx", "encoder_fp32.onnx"):
        found = ops(folder / name)
        assert not {"Pad", "Shape", "Gather", "Slice"} & set(found), (name, found)
