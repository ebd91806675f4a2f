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


def test_a_window_keeps_the_models_frame_rate_on_a_faster_stream():
    """A 10-fps model on a 30-fps stream: every third face, so a window spans what it spanned in training;
    windows still come every hop faces (interleaved), so every face is scored."""
    w = TrackWindows(window=4, hop=2, fps=10.0)
    due = [w.push(1, np.full(2, i, np.float32), i, 0.9, ts=100.0 + i / 30) for i in range(14)]
    assert due == [False] * 9 + [True, False, True, False, True]
    window, first, last = w.window_of(1)
    assert window[:, 0].tolist() == [4, 7, 10, 13] and (first, last) == (4, 13)
    same_rate = TrackWindows(window=4, hop=2, fps=10.0)  # a 10-fps stream: consecutive faces, as without fps
    for i in range(4):
        same_rate.push(2, np.full(2, i, np.float32), i, 0.9, ts=i / 10)
    assert same_rate.window_of(2)[0][:, 0].tolist() == [0, 1, 2, 3]


def test_without_frame_times_a_window_is_consecutive_faces():
    w = TrackWindows(window=4, hop=2, fps=10.0)
    due = [w.push(1, np.full(2, i, np.float32), i, 0.9) for i in range(4)]
    assert due[-1] and w.window_of(1)[0][:, 0].tolist() == [0, 1, 2, 3]


def test_a_short_track_on_a_faster_stream_is_padded_at_the_windows_stride():
    w = TrackWindows(window=4, hop=2, fps=10.0)
    for i in range(7):  # 7 faces at 30 fps: faces 0, 3, 6 at the model's rate
        w.push(1, np.full(2, i, np.float32), 20 + i, 0.9, ts=i / 30)
    window, first, last = w.partial(1, min_len=2)
    assert sorted(set(window[:, 0].tolist())) == [0, 3, 6] and (first, last) == (20, 26)
    assert w.partial(1, min_len=4) is None


@pytest.mark.parametrize("fps", [0, -10, "10", True])
def test_a_bad_window_frame_rate_is_one_clear_error(model_copy, fps):
    d = json.loads((model_copy / "model.json").read_text())
    (model_copy / "model.json").write_text(json.dumps({**d, "fps": fps}))
    with pytest.raises(ModelError, match="fps must be a positive number or null"):
        load_manifest(model_copy)


def test_short_track_gets_one_padded_window():
    w = TrackWindows(window=8, hop=4)
    for i in range(5):
        w.push(1, np.full(2, i, np.float32), 10 + i, 0.9)
    window, first, last = w.partial(1, min_len=4)
    assert window.shape == (8, 2) and (first, last) == (10, 14)
    assert w.partial(1, min_len=6) is None
