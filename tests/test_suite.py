"""The evaluation suite (`dfd evaluate DATASET --suite RUN`), its bootstrap, and the export's per-window parity bound.

The data is made here: clips of the astronaut portrait, prepared with
`dfd preprocess`, plus DFDC-like face-crop pairs written through the
dataset's own API, dev folders of crops and a recoloured "fake" clip. The
suite runs on a tiny ONNX model (tests/model_factory.py); the export test
trains one epoch of a tiny model, as tests/test_training_e2e.py does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from edge_model.manifest import load_manifest
from edge_model.runner import ModelRunner
from stream.cli import main
from tests.clips import face_frames, write_clip
from tests.conftest import shared_data
from tests.model_factory import make_tiny_model
from training.metrics import bootstrap_auc
from training.store import Clip, ClipRecord, Dataset
from training.suite import EvalSet, Unit, markdown, summarize_set


# --- the bootstrap
def test_bootstrap_is_seeded_and_brackets_the_auc():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 40)
    s = y * 0.6 + rng.normal(0, 0.5, len(y))
    units = np.arange(len(y))
    lo, hi = bootstrap_auc(y, s, units, resamples=1000, seed=3)
    assert (lo, hi) == bootstrap_auc(y, s, units, resamples=1000, seed=3)
    assert lo < roc_auc_score(y, s) < hi and 0.5 < hi - lo + 0.5 < 1.0


def test_bootstrap_draws_units_whole():
    y = np.array([0, 1, 0, 1])
    s = np.array([0.1, 0.9, 0.8, 0.2])
    # One unit holds everything: every draw is the whole data, so the CI is the AUC itself.
    assert bootstrap_auc(y, s, ["v"] * 4, resamples=50) == (roc_auc_score(y, s),) * 2
    # Pairs (a real and its fake together): every draw has both classes; AUCs lie between 0 and 1.
    lo, hi = bootstrap_auc(y, s, ["a", "a", "b", "b"], resamples=200)
    assert 0.0 <= lo < hi <= 1.0


def test_bootstrap_of_one_class_has_no_interval():
    assert all(np.isnan(bootstrap_auc([0, 0, 0], [0.1, 0.2, 0.3], [1, 2, 3], resamples=10)))


def test_a_set_reports_false_alarms_per_hour_and_skips_with_its_reason():
    videos = EvalSet("real", "real videos", units=[
        Unit("a", 0, 0.9, True, seconds=1800, alerts=2, windows=100, windows_above=10),
        Unit("b", 0, 0.1, False, seconds=1800, alerts=0, windows=100, windows_above=0),
        Unit("c", 0, None, False, seconds=60),
    ])
    r = summarize_set(videos, 100, 0)
    assert (r["n_real"], r["n_fake"], r["insufficient"]) == (2, 0, 1)
    assert r["auc"] is None and r["accuracy"] == 0.5
    assert r["alerts"] == 2 and r["false_alarms_per_hour"] == pytest.approx(2 / (3660 / 3600))
    assert r["share_windows_above"] == pytest.approx(0.05)
    gone = summarize_set(EvalSet("x", "absent", skipped="folder not found: /nope"), 100, 0)
    assert gone["skipped"] == "folder not found: /nope"
    md = markdown({"model": {"id": "m", "threshold": 0.5}, "bootstrap": {"resamples": 100, "seed": 0},
                   "sets": {"real": r, "x": gone}})
    assert "| `real` | real videos | 2 / 0 (+1 insufficient) | – | 0.500 |" in md and "`x` (absent): skipped, folder not found" in md


# --- the suite end to end, on data made here
def _crop(frame: np.ndarray, size: int = 224) -> np.ndarray:
    """A tight square around the portrait's face, like a DFDC crop."""
    h, w = frame.shape[:2]
    side = int(min(h, w) * 0.55)
    y, x = (h - side) // 2 - side // 8, (w - side) // 2
    return cv2.resize(frame[max(y, 0): y + side, x: x + side], (size, size))


def _add_pair(data: Dataset, pair: str, real: Clip, fake_faces: np.ndarray) -> None:
    """One DFDC-like pair as the preparation stores it: two one-frame clips under one id, grouped by the original."""
    records = []
    for label, method, faces in ((0, "real", real.faces[:1]), (1, "dfdc", fake_faces)):
        r = ClipRecord(f"{pair}__{method}", pair, f"orig_{pair}", label, method, "dfdc_faces", 0, 1, 0, 0, False)
        data.write_clip(r, Clip(np.ascontiguousarray(faces), real.frames[:1], real.keypoints[:1], None))
        records.append(r)
    data.finish_video({"video_id": pair, "name": pair, "clips": 2, "frames": 2}, records)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("suite")
    data, ds, dev = root / "data", root / "ds", root / "dev"
    (data / "real_videos").mkdir(parents=True)
    for i in range(4):
        write_clip(data / "real_videos" / f"person{i}.mp4", face_frames(30, 320, 240, seed=i), fps=10)
    assert main(["preprocess", str(data), "--out", str(ds), "--size", "64", "--fps", "0", "--min-track", "4"]) == 0
    dataset = Dataset(ds)
    clips = sorted(dataset.records(), key=lambda r: r.clip)
    for i, r in enumerate(clips[:3]):
        real = dataset.load(r.clip)
        _add_pair(dataset, f"pair{i}", real, np.ascontiguousarray(np.asarray(real.faces[:1])[..., ::-1]))

    frames = face_frames(4, 320, 240, seed=7)
    for sub, name, img in (("real", "aaaa_0.jpg", _crop(frames[0])), ("real", "aaaa_1.jpg", _crop(frames[1])),
                           ("fake", "bbbb_aaaa_0.jpg", _crop(frames[2])[..., ::-1])):
        (dev / "dfdc_face_crops" / sub).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dev / "dfdc_face_crops" / sub / name), np.ascontiguousarray(img))
    (dev / "fake_clips").mkdir()
    swapped = [np.ascontiguousarray(f[..., ::-1]) for f in face_frames(30, 320, 240, seed=9)]
    write_clip(dev / "fake_clips" / "swap_fake.mp4", swapped, fps=10)
    return {"root": root, "data": data, "ds": ds, "dev": dev}


def _split(prepared: dict[str, Path], run: Path) -> list[str]:
    """RUN/split.json as the trainer writes it: persons 0-1 and the pairs are the test split."""
    ids = sorted({r.video_id for r in Dataset(prepared["ds"]).records()})
    test = [v for v in ids if v.endswith(("person0", "person1")) or v.startswith("pair")]
    val = [v for v in ids if v.endswith("person2")]
    run.mkdir()
    (run / "split.json").write_text(json.dumps(
        {"seed": 0, "val_fraction": 0.2, "test_fraction": 0.4, "val_videos": val, "test_videos": test}))
    return test


def test_suite_scores_every_set_and_writes_the_card_files(prepared, tmp_path, capsys):
    model = make_tiny_model(tmp_path / "model", size=64, threshold=0.5)
    run, out = tmp_path / "run", tmp_path / "suite"
    _split(prepared, run)
    assert main(["evaluate", str(prepared["ds"]), "--suite", str(run), "--model", str(model),
                 "--real-videos", str(prepared["data"]), "--dev", str(prepared["dev"]), "--pad", "0.3",
                 "--bootstrap", "200", "--out", str(out)]) == 0
    report = json.loads((out / "suite.json").read_text())
    sets = report["sets"]
    assert list(sets) == ["dfdc_pairs", "self_blended", "dev_dfdc_crops", "dev_fake_clips", "held_out_real_videos"]
    assert not [name for name, r in sets.items() if "skipped" in r]
    assert (sets["dfdc_pairs"]["n_real"], sets["dfdc_pairs"]["n_fake"], sets["dfdc_pairs"]["n_units"]) == (3, 3, 3)
    assert (sets["self_blended"]["n_real"], sets["self_blended"]["n_fake"]) == (2, 2)
    assert sets["dev_fake_clips"]["n_fake"] == 1 and sets["dev_fake_clips"]["n_real"] == 2
    for name in ("dfdc_pairs", "self_blended", "dev_fake_clips"):
        r = sets[name]
        lo, hi = r["auc_ci95"]
        assert 0.0 <= lo <= hi <= 1.0 and 0.0 <= r["auc"] <= 1.0, name
        assert {"accuracy", "precision", "recall", "f1", "confusion"} <= set(r)
    real = sets["held_out_real_videos"]
    assert real["n_real"] + real["insufficient"] == 2 and real["n_fake"] == 0
    assert real["real_hours"] == pytest.approx(2 * 30 / 10 / 3600)
    assert real["false_alarms_per_hour"] == pytest.approx(real["alerts"] / real["real_hours"])
    assert 0.0 <= real["share_windows_above"] <= 1.0
    crops = sets["dev_dfdc_crops"]
    assert crops["n_real"] + crops["n_fake"] + crops["insufficient"] == 2  # aaaa's two crops are one video
    assert report["model"]["threshold"] == 0.5 and report["split"]["test_videos"] == 5
    md = (out / "suite.md").read_text()
    for name in sets:
        assert f"`{name}`" in md
    assert "dfdc_pairs" in capsys.readouterr().err


def test_suite_reports_absent_sets_as_skipped(prepared, tmp_path):
    model = make_tiny_model(tmp_path / "model", size=64)
    out = tmp_path / "suite"
    assert main(["evaluate", str(prepared["ds"]), "--suite", str(tmp_path / "no_run"), "--model", str(model),
                 "--dev", str(tmp_path / "no_dev"), "--out", str(out)]) == 0
    sets = json.loads((out / "suite.json").read_text())["sets"]
    assert "no split.json" in sets["dfdc_pairs"]["skipped"] and "no split.json" in sets["held_out_real_videos"]["skipped"]
    assert sets["dev_dfdc_crops"]["skipped"].startswith("folder not found")
    assert "skipped" in (out / "suite.md").read_text()


@pytest.mark.shared_data
def test_suite_on_the_shared_dev_crops(tmp_path):
    dev = shared_data("dev", "dfdc_face_crops")
    model = make_tiny_model(tmp_path / "model", size=64)
    assert main(["evaluate", "--suite", str(tmp_path / "no_run"), "--model", str(model), "--dev", str(dev.parent),
                 "--pad", "0.3", "--bootstrap", "100", "--out", str(tmp_path / "suite")]) == 0
    crops = json.loads((tmp_path / "suite" / "suite.json").read_text())["sets"]["dev_dfdc_crops"]
    assert crops["n_real"] + crops["n_fake"] + crops["insufficient"] > 20  # 67 crops, grouped by video


# --- export: the per-window parity bound
def test_export_fails_on_the_p95_window_delta_in_one_line_and_writes_no_model(prepared, tmp_path, capsys):
    run, model = tmp_path / "run", tmp_path / "models" / "m"
    assert main(["train", str(prepared["ds"]), "--out", str(run), "--epochs", "1", "--window", "4", "--hop", "2",
                 "--batch", "4", "--val-fraction", "0.3", "--embed-dim", "32", "--hidden", "16",
                 "--max-windows-per-clip", "2", "--threads", "2"]) == 0
    capsys.readouterr()
    assert main(["export", str(run / "best.pt"), "--out", str(model), "--calibration-crops", "16",
                 "--max-auc-drop", "1.0", "--max-p95-delta", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dfd export: error: int8 parity failed: p95 |p_int8 - p_fp32| ")
    assert "> 0 (p50 " in err[-1] and f"no model was written to {model}" in err[-1]
    assert list((tmp_path / "models").iterdir()) == []  # no model folder, no staging folder left behind

    assert main(["export", str(run / "best.pt"), "--out", str(model), "--calibration-crops", "16",
                 "--max-auc-drop", "1.0", "--max-p95-delta", "1.0"]) == 0
    parity = json.loads((model / "model.json").read_text())["metrics"]["parity"]["int8"]
    assert 0.0 <= parity["p50_abs_dp"] <= parity["p95_abs_dp"] <= parity["max_abs_dp"]
    before = sorted(p.name for p in model.iterdir())
    assert main(["export", str(run / "best.pt"), "--out", str(model), "--calibration-crops", "16",
                 "--max-p95-delta", "0"]) == 2
    assert sorted(p.name for p in model.iterdir()) == before  # a failed export keeps the model that was there
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["m"]

    # --precision fp32: the way out for a model whose int8 encoder breaks the bound; no int8 file is shipped
    fp32 = tmp_path / "models" / "fp32"
    assert main(["export", str(run / "best.pt"), "--out", str(fp32), "--precision", "fp32", "--max-p95-delta", "0.001"]) == 0
    manifest = load_manifest(fp32)
    assert (manifest.encoder, manifest.encoder_precision) == ("encoder_fp32.onnx", "fp32")
    assert sorted(p.name for p in fp32.iterdir()) == ["encoder_fp32.onnx", "export_report.json", "model.json", "temporal.onnx"]
    assert set(manifest.metrics["parity"]) == {"fp32"} and manifest.metrics["parity"]["fp32"]["p95_abs_dp"] < 0.001
    size = manifest.crop.size
    assert ModelRunner(fp32).encode(np.zeros((1, size, size, 3), np.uint8)).shape == (1, manifest.feature_dim)

    # dfd quantize: the fp32 folder gets an int8 encoder without the checkpoint, under the same bounds.
    ds = prepared["ds"]
    before = {p.name: p.read_bytes() for p in fp32.iterdir()}
    assert main(["quantize", str(fp32), "--dataset", str(ds), "--calibration-crops", "16", "--max-p95-delta", "0"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("dfd quantize: error: int8 parity failed: p95 ")
    assert {p.name: p.read_bytes() for p in fp32.iterdir()} == before  # a failed quantize keeps the folder as it was
    other = tmp_path / "other_ds"  # a dataset with one clip fewer: its splits are not the model's
    shutil.copytree(ds, other)
    lines = (other / "index.jsonl").read_text().splitlines(keepends=True)
    (other / "index.jsonl").write_text("".join(lines[:-1]))
    assert main(["quantize", str(fp32), "--dataset", str(other)]) == 2
    assert "is not the dataset dfd-" in capsys.readouterr().err
    assert main(["quantize", str(fp32), "--dataset", str(ds), "--float-convs", "1000"]) == 2
    assert "--float-convs must be in [0, " in capsys.readouterr().err.strip().splitlines()[-1]
    assert main(["quantize", str(fp32), "--dataset", str(ds), "--tune-steps", "-1"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "dfd quantize: error: --tune-steps must be 0 or more"
    untrained = make_tiny_model(tmp_path / "models" / "tiny", size=64)  # no training record to rebuild a split from
    assert main(["quantize", str(untrained), "--dataset", str(ds)]) == 2
    assert "model.json has no training record" in capsys.readouterr().err
    assert main(["quantize", str(fp32), "--dataset", str(ds), "--calibration-crops", "16", "--max-auc-drop", "1.0",
                 "--max-p95-delta", "1.0", "--tune-steps", "2"]) == 0
    quantized = load_manifest(fp32)
    assert (quantized.encoder, quantized.encoder_precision, quantized.encoder_fp32) == ("encoder.onnx", "int8", "encoder_fp32.onnx")
    tuning = quantized.metrics["int8"].pop("tuning")  # the int8 encoder is quantized from a tuned copy
    assert quantized.metrics["int8"] == {"float_convs": 9, "calibration_crops": 16, "reference": "fp32 onnx"}
    assert tuning["steps"] == 2 and set(tuning["simulated_rel_error"]) == {"before", "after"}
    assert sorted(p.name for p in fp32.iterdir()) == sorted([*before, "encoder.onnx"])  # no tuned copy left behind
    assert quantized.metrics["target_false_alarm_rate"] == manifest.metrics["target_false_alarm_rate"]
    assert (fp32 / "encoder_fp32.onnx").read_bytes() == before["encoder_fp32.onnx"]
    assert ModelRunner(fp32).encode(np.zeros((1, size, size, 3), np.uint8)).shape == (1, manifest.feature_dim)

    # The suite takes the model folder for RUN: its training record rebuilds the run's split from the dataset.
    assert main(["evaluate", str(ds), "--suite", str(fp32), "--model", str(fp32), "--bootstrap", "20",
                 "--out", str(tmp_path / "suite")]) == 0
    rebuilt = json.loads((tmp_path / "suite" / "suite.json").read_text())["split"]
    trained = json.loads((run / "split.json").read_text())
    assert (rebuilt["val_videos"], rebuilt["test_videos"]) == (len(trained["val_videos"]), len(trained["test_videos"]))
