"""The packaged default model, by what it does: it loads only with its hashes intact, its
files agree with what its manifest declares (crop size, window, feature size, encoder
precision), its threshold is the one the decision rule fires at, and it separates the demo's
two streams (the manipulation it was trained to catch vs the plain portrait)."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import onnx
import pytest

from edge_model.crop import crop_face
from edge_model.decision import DecisionRule
from edge_model.detector import FaceDetector
from edge_model.errors import DfdError
from edge_model.manifest import DEFAULT_MODEL_DIR, MANIFEST, load_manifest
from edge_model.pipeline import WindowScore
from edge_model.runner import ModelRunner
from stream import demo
from stream.config import load_config

QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger"}


def test_the_packaged_model_refuses_a_tampered_file(tmp_path):
    manifest = load_manifest(DEFAULT_MODEL_DIR)  # every sha256 checked
    copy = tmp_path / "default"
    shutil.copytree(DEFAULT_MODEL_DIR, copy)
    data = bytearray((copy / manifest.temporal).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / manifest.temporal).write_bytes(bytes(data))
    with pytest.raises(DfdError, match=f"{manifest.temporal} does not match its sha256"):
        ModelRunner(copy)


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_the_encoders_are_what_the_manifest_declares(precision):
    """The run-time encoder for each precision has the declared input size and feature size, and
    is quantized exactly when the manifest says its precision is int8."""
    runner = ModelRunner(DEFAULT_MODEL_DIR, precision=precision)
    m = runner.manifest
    assert runner.encoder.get_inputs()[0].shape[1:] == [3, m.crop.size, m.crop.size]
    crops = np.zeros((2, m.crop.size, m.crop.size, 3), np.uint8)
    assert runner.encode(crops).shape == (2, m.feature_dim)
    file = m.precision_file(precision)
    declared = m.encoder_precision if file == m.encoder else "fp32"
    ops = {n.op_type for n in onnx.load(str(DEFAULT_MODEL_DIR / file)).graph.node}
    assert bool(ops & QUANTIZED_OPS) == (declared == "int8"), (file, declared, sorted(ops & QUANTIZED_OPS))
    windows = np.zeros((3, m.window, m.feature_dim), np.float32)
    p = runner.score(windows)
    assert p.shape == (3,) and np.all((p >= 0) & (p <= 1))


def test_the_threshold_is_where_the_decision_rule_fires():
    threshold = load_manifest(DEFAULT_MODEL_DIR).threshold
    assert 0.0 < threshold < 1.0
    levels = load_config(None).policy.levels(threshold)  # what dfd watch and dfd scan use

    def first_change(p_fake: float):
        rule = DecisionRule(levels)
        for i in range(40):
            change = rule.observe(WindowScore(1, i, i + 3, p_fake, 100, 0.9), i * 0.25)
            if change is not None:
                return change.kind
        return None

    assert first_change(min(1.0, threshold + 0.01)) == "new"
    assert first_change(threshold - 0.01) is None


def test_the_model_json_names_no_private_path():
    text = (DEFAULT_MODEL_DIR / MANIFEST).read_text()
    assert "/tmp/" not in text and "/home/" not in text and "/work/" not in text


def demo_window(runner: ModelRunner, fake: bool, start_s: float, seed: int) -> np.ndarray:
    """The face crops of T demo frames, every other frame, as a busy worker sees them."""
    image = demo.astronaut()
    swaps = demo.face_swaps(image, seed=seed)
    detector = FaceDetector("auto", 0.5, 1, 1)
    rng = np.random.default_rng(seed)
    crops = []
    for k in range(runner.manifest.window):
        source = swaps[int(rng.integers(len(swaps)))] if fake else image
        frame = cv2.warpAffine(source, demo.camera(start_s + 2 * k / demo.FPS), demo.SIZE,
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        face = detector.detect(frame)[0]
        crops.append(crop_face(frame, face.box, face.keypoints, runner.manifest.crop))
    return np.stack(crops)


@pytest.mark.parametrize("start_s", [5.0, 9.5, 14.0])
def test_the_default_model_flags_the_fake_demo_stream_and_not_the_real_one(start_s):
    runner = ModelRunner(DEFAULT_MODEL_DIR)
    threshold = runner.manifest.threshold
    real = runner.score(runner.encode(demo_window(runner, False, start_s, 0))[None])[0]
    fake = runner.score(runner.encode(demo_window(runner, True, start_s, 0))[None])[0]
    assert demo.manipulated(start_s)
    assert real < threshold < fake, (real, threshold, fake)
