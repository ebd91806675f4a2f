"""`dfd evaluate` on labelled videos with an exported model runs on the base install: no torch, no matplotlib."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from tests.clips import write_clip
from tests.stream_clips import make_clip

# Each of these imports fails in the child, as it would on `pip install -e .` without the train extra.
NOT_INSTALLED = ["torch", "torchvision", "matplotlib", "sklearn"]
RUN = f"""
import sys
for name in {NOT_INSTALLED!r}:
    sys.modules[name] = None
from stream.cli import main
sys.exit(main(sys.argv[1:]))
"""


def dfd_without_train_extra(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=300)


def test_media_evaluation_needs_no_torch(tiny_model, tmp_path):
    data = tmp_path / "videos"
    (data / "real_videos").mkdir(parents=True)
    (data / "deepfake_videos").mkdir()
    make_clip(data / "real_videos" / "a.mp4", seconds=1.0)
    make_clip(data / "deepfake_videos" / "b.mp4", seconds=1.0, size=(480, 360))
    write_clip(data / "real_videos" / "empty.mp4", [np.full((240, 320, 3), 90, np.uint8)] * 15)  # no face
    out = dfd_without_train_extra("evaluate", str(data), "--model", str(tiny_model), "--out", str(tmp_path / "eval"))
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["source"] == "media" and report["levels"]["frame"]["n"] > 0
    assert sorted(f["name"] for f in report["detail"]["files"]) == ["a.mp4", "b.mp4", "empty.mp4"]
    short = sorted(f["name"] for f in report["detail"]["files"] if f["verdict"] == "insufficient")
    assert "empty.mp4" in short and sorted(report["detail"]["insufficient"]) == short
    assert report["detail"]["n_insufficient"] == len(short) and f"{len(short)} video(s) insufficient" in out.stderr
    assert "no plots" in out.stderr and "matplotlib" in out.stderr


def test_a_checkpoint_without_torch_is_one_line(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset.json").write_text("{}")
    out = dfd_without_train_extra("evaluate", str(tmp_path / "ds"), "--checkpoint", str(tmp_path / "best.pt"),
                                  "--out", str(tmp_path / "eval"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "dfd evaluate: error: a prepared dataset or a checkpoint needs PyTorch, from the train extra: "
        "pip install -e '.[train]' (see the README for CPU-only PyTorch)"
    ]


def test_evaluate_reads_scan_config_and_flags(tmp_path):
    from training.media_eval import pipeline_settings

    config = tmp_path / "scan.toml"
    config.write_text("[model]\nthreads = 2\n[detector]\nevery = 3\nmin_score = 0.7\n[tracker]\nmax_missed = 4\n"
                      "[stream]\nworkers = 2\n")
    s = pipeline_settings(config, {"every": 2, "range": None})
    assert (s.threads, s.every, s.min_score, s.max_missed, s.range) == (2, 2, 0.7, 4, "auto")


def test_a_bad_detector_setting_for_evaluate_is_one_line(tiny_model, tmp_path):
    config = tmp_path / "scan.toml"
    config.write_text("[detector]\nmax_faces = 0\n")
    out = dfd_without_train_extra("evaluate", str(tmp_path), "--model", str(tiny_model), "--out", str(tmp_path / "e"),
                                  "--config", str(config))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["dfd evaluate: error: pipeline setting max_faces: must be at least 1"]
