"""The whole training pipeline on clips the test makes: preprocess -> train -> evaluate -> export -> run time.

Small on purpose (64 px crops, T=4, one epoch) so it runs in the default
suite on two cores; it checks that every stage produces what the next one
and the run time need, not that the model is good.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_model.blend import blend, deform_mask, hull_mask, keypoint_outline
from edge_model.detector import FaceDetector
from edge_model.manifest import load_manifest
from edge_model.runner import ModelRunner
from stream.cli import main
from tests.clips import face_frames, write_clip


def _swapped(frames: list[np.ndarray]) -> list[np.ndarray]:
    """A crude 'deepfake': each frame's face blended with a recoloured copy through its mask."""
    det = FaceDetector()
    out = []
    for f in frames:
        faces = det.detect(f)
        if not faces:
            out.append(f)
            continue
        mask = deform_mask(hull_mask(keypoint_outline(faces[0].keypoints), f.shape[:2]), np.random.default_rng(0), 0)
        out.append(blend(f, np.ascontiguousarray(f[..., ::-1]), mask, 0.8))
    return out


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    (root / "real_videos").mkdir()
    (root / "deepfake_videos").mkdir()
    for i in range(5):  # 2.4 s: long enough for the decision rule to decide on each video
        write_clip(root / "real_videos" / f"person{i}.mp4", face_frames(24, 320, 240, seed=i), fps=10)
    write_clip(root / "deepfake_videos" / "swap0.mp4", _swapped(face_frames(24, 320, 240, seed=9)), fps=10)
    (root / "real_videos" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    return root


def test_preprocess_train_evaluate_export_and_run(data_dir, tmp_path, capsys):
    ds, run, model, report = tmp_path / "ds", tmp_path / "run", tmp_path / "model", tmp_path / "report"

    assert main(["preprocess", str(data_dir), "--out", str(ds), "--size", "64", "--fps", "0", "--min-track", "4"]) == 0
    err = capsys.readouterr().err
    assert "broken.mp4" in err and "1 skipped" in err
    index = [json.loads(line) for line in (ds / "index.jsonl").read_text().splitlines()]
    assert {r["label"] for r in index} == {0, 1}
    assert all((ds / "clips" / f"{r['clip']}.npy").is_file() for r in index)
    faces = np.load(ds / "clips" / f"{index[0]['clip']}.npy")
    assert faces.dtype == np.uint8 and faces.shape[1:] == (64, 64, 3)

    # Resumable: a second run prepares nothing new and keeps the index as it was.
    before = (ds / "index.jsonl").read_text()
    assert main(["preprocess", str(data_dir), "--out", str(ds), "--size", "64", "--fps", "0", "--min-track", "4"]) == 0
    assert "6 already done, 1 to prepare now" in capsys.readouterr().err  # the broken file is retried
    assert (ds / "index.jsonl").read_text() == before

    train_args = ["train", str(ds), "--out", str(run), "--epochs", "1", "--window", "4", "--hop", "2", "--batch", "4",
                  "--val-fraction", "0.3", "--embed-dim", "32", "--hidden", "16", "--max-windows-per-clip", "2",
                  "--threads", "2"]
    assert main(train_args) == 0
    history = json.loads((run / "metrics.json").read_text())
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"])
    assert (run / "best.pt").is_file() and (run / "metrics.csv").is_file()

    assert main(["evaluate", str(ds), "--checkpoint", str(run / "best.pt"), "--out", str(report)]) == 0
    rep = json.loads((report / "report.json").read_text())
    assert set(rep["levels"]) == {"frame", "window", "video"}
    for name in ("roc.png", "pr.png", "confusion.png"):
        assert (report / name).stat().st_size > 1000

    # The parity gate at its defaults (AUC drop 0.02, p95 window delta 0.05). A one-epoch model's int8
    # encoder need not pass it (test_suite.py has an int8 export that the gate rejects), its fp32 one must.
    assert main(["export", str(run / "best.pt"), "--out", str(model), "--precision", "fp32"]) == 0
    manifest = load_manifest(model)
    assert manifest.encoder_precision == "fp32"
    assert manifest.metrics["parity_bounds"] == {"max_p95_abs_dp": 0.05, "max_auc_drop": 0.02}
    assert manifest.metrics["parity"]["fp32"]["p95_abs_dp"] <= 0.05
    assert manifest.crop.size == 64 and manifest.window == 4 and manifest.feature_dim == 32
    assert manifest.fps is None  # preprocessed with --fps 0 (every frame): the run time keeps consecutive faces
    assert 0 < manifest.threshold < 1
    assert manifest.training["data"]["train"]["real"]["videos"] >= 1
    assert str(data_dir) not in (model / "model.json").read_text()

    # The run time loads the folder and scores windows; evaluate goes through it on the raw videos.
    runner = ModelRunner(model, threads=1)
    p = runner.score(runner.encode(np.ascontiguousarray(faces[:4]))[None])
    assert p.shape == (1,) and 0.0 <= p[0] <= 1.0
    media_report = tmp_path / "media"
    assert main(["evaluate", str(data_dir), "--model", str(model), "--out", str(media_report)]) == 0
    rep = json.loads((media_report / "report.json").read_text())
    assert rep["levels"]["video"]["n"] == 6 and rep["levels"]["video"]["n_fake"] == 1
    assert rep["detail"]["skipped"] and "broken.mp4" in rep["detail"]["skipped"][0]

    # Resume continues from the checkpoint's epoch.
    assert main(["train", str(ds), "--out", str(run), "--epochs", "2", "--resume", str(run / "last.pt")]) == 0
    assert len(json.loads((run / "metrics.json").read_text())) == 2


def test_export_refuses_a_missing_checkpoint(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "m")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_preprocess_reports_an_empty_folder(tmp_path, capsys):
    assert main(["preprocess", str(tmp_path), "--out", str(tmp_path / "ds")]) == 2
    assert "no videos or photos found" in capsys.readouterr().err


def test_the_window_frame_rate_is_the_datasets_over_the_stride(tmp_path):
    from edge_model.crop_spec import CropSpec
    from training.exporter import window_fps
    from training.store import Dataset

    data = Dataset(tmp_path / "ds")
    data.create(CropSpec(size=64), {"fps": 10.0})
    assert window_fps(data, 1) == 10.0 and window_fps(data, 2) == 5.0
    every = Dataset(tmp_path / "every")
    every.create(CropSpec(size=64), {"fps": None})
    assert window_fps(every, 1) is None
