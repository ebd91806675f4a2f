"""A model folder is loaded only when every file matches its sha256."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edge_model.manifest import ModelError, load_manifest
from edge_model.runner import ModelRunner, TrackWindows


@pytest.fixture
def model_copy(tiny_model, tmp_path):
    return shutil.copytree(tiny_model, tmp_path / "m")


def test_valid_model_loads(model_copy):
    runner = ModelRunner(model_copy)
    emb = runner.encode(np.zeros((3, 64, 64, 3), np.uint8))
    assert emb.shape == (3, runner.manifest.feature_dim)
    p = runner.score(np.stack([np.stack([emb[0]] * runner.manifest.window)] * 2))
    assert p.shape == (2,) and np.all((p > 0) & (p < 1))


def test_tampered_file_is_refused(model_copy):
    with open(model_copy / "temporal.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match="does not match its sha256"):
        ModelRunner(model_copy)


def test_missing_file_is_refused(model_copy):
    (model_copy / "encoder.onnx").unlink()
    with pytest.raises(ModelError, match="missing"):
        load_manifest(model_copy)


def test_malformed_manifest(model_copy):
    (model_copy / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_manifest(model_copy)
    (model_copy / "model.json").write_text(json.dumps({"model_id": "x"}))
    with pytest.raises(ModelError, match="malformed"):
        load_manifest(model_copy)


def test_unknown_encoder_precision_is_one_clear_error(model_copy):
    d = json.loads((model_copy / "model.json").read_text())
    (model_copy / "model.json").write_text(json.dumps({**d, "encoder_precision": "int4"}))
    with pytest.raises(ModelError, match="encoder_precision must be int8 or fp32, not 'int4'"):
        load_manifest(model_copy)


def test_windows_slide_by_hop_and_free_state():
    w = TrackWindows(window=4, hop=2)
    due = [w.push(7, np.full(3, i, np.float32), i, 0.8 + 0.01 * i) for i in range(10)]
    assert due == [False, False, False, True, False, True, False, True, False, True]
    window, first, last = w.window_of(7)
    assert window.shape == (4, 3) and (first, last) == (6, 9)
    frames, face_score = w.evidence(7)
    assert frames == 10 and face_score == pytest.approx(0.845)
    w.drop(7)
    assert len(w) == 0


def test_short_track_gets_one_padded_window():
    w = TrackWindows(window=8, hop=4)
    for i in range(5):
        w.push(1, np.full(2, i, np.float32), 10 + i, 0.9)
    window, first, last = w.partial(1, min_len=4)
    assert window.shape == (8, 2) and (first, last) == (10, 14)
    assert w.partial(1, min_len=6) is None
