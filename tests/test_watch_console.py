"""The console renders the supervisor's stats dict; the demo streams are what they claim to be."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import cv2
import numpy as np
from rich.console import Console

from edge_model.crop import map_points
from stream import demo
from stream.console import render, sparkline
from stream.messages import AlertEvent


def stats() -> dict:
    stream = {
        "source": "rtsp://admin:***@cam/1", "state": "reconnecting", "error": "", "reconnects": 2,
        "capture_fps": 25.0, "process_fps": 12.5, "skipped_fps": 12.5, "captured": 100, "processed": 50,
        "dropped": 50, "skipped": 0, "latency_p50_ms": 41.0, "latency_p95_ms": 88.0, "faces": 1, "score": 0.93,
        "history": [0.1, 0.5, 0.93], "alerts": 1, "active_alerts": 1,
    }
    return {
        "uptime_s": 12.0, "model": "m1", "threshold": 0.6, "streams": {"door": stream},
        "processes": {"door": {"kind": "capture", "pid": 1, "alive": True, "restarts": 1}},
        "rejected": 3, "segments": [],
        "sink": {"state": "spooling", "spool_depth": 4, "written": 7, "backend": "mysql://root@db/dfd",
                 "last_error": "database down"},
    }


def test_the_console_shows_each_stream_the_alerts_and_the_sink():
    alert = AlertEvent("new", "0123456789ab", "door", 3, 1e9, 1e9, None, 0.93, 0.95, 0.9, 0.6, "m1",
                       evidence={"face": "evidence/door/x-face.jpg"})
    console = Console(record=True, width=200, color_system=None)
    console.print(render(stats(), [alert]))
    text = console.export_text()
    for expected in ("door", "reconnecting (2)", "25.0", "12.5", "41/88", "0.93", "1 ● 1 open",
                     "latest alerts", "new", "track 3", "01234567", "evidence/door/x-face.jpg",
                     "spooling", "spool 4", "rejected messages 3", "restarts 1"):
        assert expected in text, expected


def test_sparkline_marks_scores_over_the_threshold():
    line = sparkline([0.0, 0.59, 0.6, 1.0], threshold=0.6)
    assert line.plain == "▁▅▅█"
    assert [s.style for s in line.spans] == ["green", "green", "red", "red"]


def test_the_fake_demo_stream_changes_the_face_and_nothing_far_from_it():
    image, keypoints = demo.portrait()
    rng = np.random.default_rng(0)
    m = demo.camera(5.0)
    frame = cv2.warpAffine(image, m, demo.SIZE, borderMode=cv2.BORDER_REFLECT)
    kp = map_points(keypoints, m)
    fake = demo.swap_face(frame, kp, rng)
    diff = np.abs(fake.astype(int) - frame.astype(int)).sum(axis=2)
    x, y = kp[2].astype(int)  # the nose
    assert diff[y - 10:y + 10, x - 10:x + 10].mean() > 10
    assert diff[:40].max() == 0 and diff[:, :60].max() == 0  # top rows and left edge untouched
    assert demo.manipulated(5.0) and not demo.manipulated(1.0)
    real = next(itertools.islice(demo.demo_frames("real"), 1))
    assert real.shape == (demo.SIZE[1], demo.SIZE[0], 3)


def test_watch_with_no_source_runs_the_demo(always_fake_model, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "stream.cli", "watch", "--no-console", "--duration", "6",
         "--model", str(always_fake_model), "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=90,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.splitlines()[-1])
    assert set(summary["streams"]) == {"real", "fake"}
    assert all(s["processed"] > 0 and s["alerts"] >= 1 for s in summary["streams"].values())
    assert (tmp_path / "evidence" / "fake").is_dir()
