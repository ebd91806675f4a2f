"""`dfd scan`: real decode, real detector, a real (tiny) ONNX model; bad input exits 2 with one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import av
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


def write_faststart_clip(path, n: int) -> Path:
    """An mp4 with its index in front (as web video is): cut short, it still opens and claims all n frames."""
    from tests.clips import face_frames

    frames = face_frames(n, 480, 360)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=15)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="bgr24")))
        out.mux(stream.encode())
    return path


def test_a_file_cut_short_is_scored_and_said_to_be_incomplete(tiny_model, tmp_path):
    whole = write_faststart_clip(tmp_path / "whole.mp4", 60)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 5])
    out = dfd("scan", str(cut), "--model", str(tiny_model), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["complete"] is False and report["frames_expected"] == 60
    assert 0 < report["frames_decoded"] < 60 and report["frames"] == report["frames_decoded"]
    assert report["verdict"] in ("fake", "real", "insufficient")
    assert "decoding stopped early" in out.stderr and "of 60 frames decoded" in out.stderr
    whole_report = scan_json(whole, tiny_model)
    assert whole_report["complete"] is True and whole_report["frames_decoded"] == 60


def test_many_files_and_folders_on_jobs_keep_going_past_a_bad_one(face_clip, tiny_model, tmp_path):
    archive = tmp_path / "archive"
    (archive / "day1").mkdir(parents=True)
    shutil.copy(face_clip, archive / "day1" / "a.mp4")
    shutil.copy(face_clip, archive / "b.MOV")
    (archive / "notes.txt").write_text("not a video")
    (archive / "broken.mp4").write_text("not a video either")
    out = dfd("scan", str(archive), str(face_clip), "--jobs", "2", "--json", "--model", str(tiny_model))
    assert out.returncode == 2
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(Path(r["video"]).name for r in lines) == ["a.mp4", "b.MOV", "face.mp4"]
    assert all(r["complete"] and r["verdict"] for r in lines)
    assert "broken.mp4" in out.stderr and "notes.txt" not in out.stderr and "Traceback" not in out.stderr
    table = dfd("scan", str(archive), "--model", str(tiny_model))
    assert table.returncode == 2
    assert "broken.mp4" in table.stdout and "failed" in table.stdout and "3 files:" in table.stdout
    assert "1 failed" in table.stdout
