"""One decision rule: `dfd scan` says fake exactly when `dfd watch` raises an alert on the same file,
and short or doubtful face tracks decide nothing. Real processes, real decode and detector, tiny ONNX models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.clips import face_frames, write_clip, write_face_clip
from tests.model_factory import make_tiny_model


def dfd(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stream.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def always_real_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "real", bias=-8.0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_face_clip(tmp_path_factory.mktemp("rule") / "face.mp4", n=45, width=480, height=360)  # 3 s


def scan(video: Path, model: Path, tmp_path: Path, *extra: str) -> dict:
    out = dfd("scan", str(video), "--model", str(model), "--json", *extra, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def watch_alerts(video: Path, model: Path, tmp_path: Path, *extra: str, frames: int = 30) -> list[dict]:
    """The alert events of `dfd watch --no-console` over the file, played once in real time."""
    tmp_path.mkdir(exist_ok=True)
    out = dfd("watch", str(video), "--no-console", "--model", str(model), "--alerts",
              f"sqlite:///{tmp_path / 'alerts.db'}", "--evidence-dir", str(tmp_path / "evidence"), *extra, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    summary = events[-1]["streams"]["face"]
    assert summary["processed"] >= frames, summary  # the worker kept up (about), so both saw the same track
    return [e for e in events if e["type"] == "alert"]


def config(tmp_path: Path, **policy: float) -> str:
    path = tmp_path / "policy.toml"
    path.write_text("[policy]\n" + "".join(f"{k} = {v}\n" for k, v in policy.items()))
    return str(path)


def test_scan_says_fake_exactly_when_watch_alerts(clip, always_fake_model, always_real_model, tmp_path):
    fake = scan(clip, always_fake_model, tmp_path)
    alerts = watch_alerts(clip, always_fake_model, tmp_path / "fake")
    assert fake["verdict"] == "fake"
    assert {e["kind"] for e in alerts} >= {"new", "end"}
    # both open the alert at the track's first evidence window and raise it min_duration_s (1 s) later
    (period,) = fake["tracks"][0]["alerts"]
    first_evidence = next(w for w in fake["tracks"][0]["windows"] if w["evidence"])
    assert period["start_frame"] == first_evidence["end_frame"]
    new = next(e for e in alerts if e["kind"] == "new")
    assert 1.0 <= new["frame_ts"] - new["started_at"] < 1.5  # capture time; a busy worker may skip a frame

    real = scan(clip, always_real_model, tmp_path)
    assert real["verdict"] == "real" and real["tracks"][0]["decides"] and real["score"] < 0.01
    assert watch_alerts(clip, always_real_model, tmp_path / "real") == []


def test_a_sampled_config_scores_the_same_frames_in_scan_and_watch(always_fake_model, tmp_path):
    """stream.sample_fps = 5 on a 15-fps clip: both score every third frame, and still agree. The clip is 6 s:
    an alert needs 8 frames of track and then 1 s of windows (13 scored frames), and a live run on a busy CPU
    may drop a scored frame or two, which a 3-s clip (15 scored frames) could not spare."""
    clip = write_face_clip(tmp_path / "face.mp4", n=90, width=480, height=360)
    sampled = tmp_path / "sampled.toml"
    sampled.write_text("[stream]\nsample_fps = 5\n")
    report = scan(clip, always_fake_model, tmp_path, "--config", str(sampled))
    assert report["frames"] == 30 and report["verdict"] == "fake"
    alerts = watch_alerts(clip, always_fake_model, tmp_path / "sampled", "--config", str(sampled), frames=20)
    assert {e["kind"] for e in alerts} >= {"new", "end"}


def test_a_low_detector_score_face_decides_nothing_in_either(clip, always_fake_model, tmp_path):
    """With the gate above this face's detector score (about 0.95), neither scan nor watch decides on it."""
    strict = config(tmp_path, min_face_score=0.99)
    report = scan(clip, always_fake_model, tmp_path, "--config", strict)
    track = report["tracks"][0]
    assert report["verdict"] == "insufficient" and report["score"] is None
    assert not track["decides"] and track["alerts"] == [] and 0.6 < track["face_score"] < 0.99
    assert not any(w["evidence"] for w in track["windows"])
    assert watch_alerts(clip, always_fake_model, tmp_path, "--config", strict) == []


def test_a_three_frame_face_decides_nothing(tmp_path, always_fake_model):
    """Even when one window could raise an alert (min_duration_s = 0), a 3-frame track is no evidence."""
    blank = np.full((360, 480, 3), 90, np.uint8)
    frames = [blank] * 10 + face_frames(3, 480, 360) + [blank] * 20
    video = write_clip(tmp_path / "flash.mp4", frames)
    # the detector on every frame: between detections the tracker would carry the box a frame past the face
    every = ("--detect-every", "1")
    report = scan(video, always_fake_model, tmp_path, "--config", config(tmp_path, min_duration_s=0.0), *every)
    (track,) = report["tracks"]
    assert track["frames"] == 3 and track["windows"][0]["p_fake"] > 0.99
    assert report["verdict"] == "insufficient" and not track["decides"] and track["alerts"] == []
    gate_off = config(tmp_path, min_duration_s=0.0, min_track_frames=1)
    assert scan(video, always_fake_model, tmp_path, "--config", gate_off, *every)["verdict"] == "fake"  # the gate decides


def test_a_short_fragment_cannot_set_the_video_score(tmp_path, always_fake_model):
    """A face seen for 0.6 s (9 frames, past the frame gate) spans less than min_duration_s: no score, no verdict."""
    blank = np.full((360, 480, 3), 90, np.uint8)
    video = write_clip(tmp_path / "short.mp4", [blank] * 5 + face_frames(9, 480, 360) + [blank] * 15)
    report = scan(video, always_fake_model, tmp_path)
    (track,) = report["tracks"]
    assert any(w["evidence"] for w in track["windows"]) and not track["decides"]
    assert report["verdict"] == "insufficient" and report["score"] is None and track["score"] is None
