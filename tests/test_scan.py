"""`dfd scan`: real decode, real detector, a real (tiny) ONNX model; bad input exits 2 with one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.clips import write_clip, write_face_clip
from tests.conftest import shared_data


def dfd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stream.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory):
    return write_face_clip(tmp_path_factory.mktemp("scan") / "face.mp4", n=36, width=480, height=360)


def scan_json(video, model, *extra) -> dict:
    out = dfd("scan", str(video), "--model", str(model), "--json", *extra)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_scan_json_has_tracks_windows_and_the_rule(face_clip, tiny_model):
    report = scan_json(face_clip, tiny_model)
    assert report["verdict"] in ("fake", "real")
    assert report["frames"] == 36 and report["fps"] == 15 and report["model"].startswith("tiny-test")
    track = report["tracks"][0]
    assert track["first_frame"] == 0 and track["last_frame"] == 35 and track["frames"] == 36
    assert track["decides"] and track["face_score"] > 0.8
    assert len(track["windows"]) >= 5
    scores = [w["p_fake"] for w in track["windows"]]
    assert track["mean"] == pytest.approx(np.mean(scores))
    assert report["score"] == pytest.approx(max(t["score"] for t in report["tracks"] if t["decides"]))
    assert (report["verdict"] == "fake") == any(t["alerts"] for t in report["tracks"])


def test_an_always_fake_model_raises_an_alert_period(face_clip, always_fake_model):
    report = scan_json(face_clip, always_fake_model)
    assert report["verdict"] == "fake" and report["score"] > 0.99
    (period,) = report["tracks"][0]["alerts"]
    assert period["peak"] > 0.99 and period["end_frame"] == 35  # open until the file ended
    assert period["start_s"] == pytest.approx(period["start_frame"] / 15)


def test_every_and_max_frames(face_clip, tiny_model):
    report = scan_json(face_clip, tiny_model, "--every", "2", "--max-frames", "8")
    assert report["frames"] == 8
    assert report["tracks"][0]["last_frame"] == 14


def test_no_face_is_insufficient(tmp_path, tiny_model):
    blank = [np.full((240, 320, 3), 40 + i, np.uint8) for i in range(10)]
    report = scan_json(write_clip(tmp_path / "blank.mp4", blank), tiny_model)
    assert report["verdict"] == "insufficient" and report["score"] is None and report["tracks"] == []


def test_real_clip_from_shared_data(tiny_model):
    clip = shared_data("real_faces", "lia_obama.mov")
    report = scan_json(clip, tiny_model, "--max-frames", "40")
    assert len(report["tracks"]) >= 1 and report["tracks"][0]["windows"]


def _one_line_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    for n in needles:
        assert n in lines[0]


def test_bad_videos_exit_2(tmp_path, face_clip, tiny_model):
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(face_clip.read_bytes()[:3000])
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    for path, needle in [(tmp_path / "absent.mp4", "no such file"), (truncated, "truncated"), (text, "notes.mp4")]:
        _one_line_error(dfd("scan", str(path), "--model", str(tiny_model)), needle)


def test_tampered_and_missing_model_exit_2(tmp_path, face_clip, tiny_model):
    model = shutil.copytree(tiny_model, tmp_path / "m")
    with open(model / "encoder.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"\x42")
    _one_line_error(dfd("scan", str(face_clip), "--model", str(model)), "sha256")
    other = shutil.copytree(tiny_model, tmp_path / "m2")
    (other / "temporal.onnx").unlink()
    _one_line_error(dfd("scan", str(face_clip), "--model", str(other)), "temporal.onnx")


def test_bad_flag_is_one_line(face_clip):
    _one_line_error(dfd("scan", str(face_clip), "--every", "0"), "--every")
