"""The console renders the supervisor's stats dict; the demo streams are what they claim to be."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console

from edge_model.detector import FaceDetector
from stream import demo
from stream.board import AlertBoard
from stream.console import Dashboard, closing_summary, sparkline
from stream.wire import AlertEvent


def stream_stats(**changes) -> dict:
    s = {
        "source": "rtsp://admin:***@cam/1", "state": "online", "error": "", "reconnects": 0,
        "capture_fps": 25.0, "process_fps": 12.5, "dropped_fps": 12.5, "captured": 100, "processed": 50,
        "dropped": 50, "dropped_at_capture": 50, "latency_p50_ms": 41.0, "latency_p95_ms": 88.0, "faces": 1,
        "score": 0.12, "history": [0.1, 0.5, 0.93] * 10, "alerts": 0, "active_alerts": 0, "came_online": True,
    }
    return {**s, **changes}


def stats(**streams: dict) -> dict:
    return {
        "uptime_s": 12.0, "model": "dfd-default-112-t4", "threshold": 0.6,
        "streams": streams or {"door": stream_stats(state="reconnecting", reconnects=2, score=0.93,
                                                    alerts=1, active_alerts=1)},
        "processes": {"door": {"kind": "capture", "pid": 1, "alive": True, "restarts": 1}},
        "rejected": 3, "segments": [], "problems": [], "evidence_dir": "evidence",
        "sink": {"state": "spooling", "spool_depth": 4, "written": 7, "backend": "mysql://root@db/dfd",
                 "last_error": "database down"},
    }


def alert(kind: str, alert_id: str, score: float, track: int = 3, ts: float = 1e9, **kw) -> AlertEvent:
    return AlertEvent(kind, alert_id, "fake", track, ts, 1e9, None, score, 0.95, 0.9, 0.6, "m1", **kw)


def rendered(width: int, stats_: dict, rows: list, height: int = 24) -> str:
    console = Console(record=True, width=width, height=height, color_system=None)
    console.print(Dashboard(stats_, rows))
    return console.export_text()


def test_the_console_shows_each_stream_the_alerts_and_the_sink():
    board = AlertBoard()
    board.fold(alert("new", "0123456789ab", 0.93, evidence={"face": "evidence/door/x-face.jpg"}))
    text = rendered(200, stats(), board.rows())
    for expected in ("door", "reconnecting (2)", "25.0", "12.5", "41/88", "0.93", "1 ● 1 open",
                     "alerts · 1 open", "open", "evidence/door/x-face.jpg",
                     "spooling", "spool 4", "rejected messages 3", "restarts 1"):
        assert expected in text, expected


def test_a_sampled_run_says_how_many_frames_a_second_it_scores():
    assert "scored" not in rendered(200, stats(), [])
    assert "10 fps scored per stream" in rendered(200, {**stats(), "sample_fps": 10.0}, [])


@pytest.mark.parametrize("width", [80, 120, 200])
def test_at_every_width_each_stream_shows_its_name_state_score_and_alerts(width):
    demo = stats(
        real=stream_stats(score=0.07),
        fake=stream_stats(score=0.91, alerts=2, active_alerts=1),
        **{"front-door-camera": stream_stats(state="reconnecting", reconnects=3, score=0.45, alerts=12)},
    )
    board = AlertBoard()
    board.fold(alert("new", "a" * 32, 0.91, evidence={"face": "evidence/fake/" + "a" * 36 + "-face.jpg"}))
    text = rendered(width, demo, board.rows())
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    rows = {name: next(line for line in lines if line.startswith(name)) for name in demo["streams"]}
    assert "online" in rows["real"] and "0.07" in rows["real"] and rows["real"].rstrip().endswith("0")
    assert "online" in rows["fake"] and "0.91" in rows["fake"] and "2 ● 1 open" in rows["fake"]
    assert "reconnecting (3)" in rows["front-door-camera"] and "0.45" in rows["front-door-camera"]
    assert rows["front-door-camera"].rstrip().endswith("12")
    for header in ("stream", "state", "score", "alerts", "p95", "started", "evidence"):
        assert header in text, header  # no header cut to an ellipsis
    assert ("history" in text) == (width >= 120)
    assert "-face.jpg" in text  # a long evidence path keeps its end


def test_the_alerts_panel_has_one_row_per_alert_however_many_updates():
    board = AlertBoard()
    board.fold(alert("new", "first-alert", 0.8, track=1, ts=1e9))
    board.fold(alert("end", "first-alert", 0.3, track=1, ts=1e9 + 5))
    board.fold(alert("new", "second-alert", 0.9, track=2, ts=1e9 + 6, evidence={"face": "f2.jpg"}))
    for i in range(10):
        board.fold(alert("update", "second-alert", 0.9 + i / 100, track=2, ts=1e9 + 7 + i))
    rows = board.rows()
    assert [(r.alert_id, r.state, r.evidence) for r in rows] == [
        ("second-alert", "open", "f2.jpg"), ("first-alert", "ended", ""),
    ]
    assert rows[0].score == 0.99
    text = rendered(80, stats(), rows)
    panel = [line for line in text.splitlines() if line.startswith("│") and "fake" in line]
    assert len(panel) == 2 and "open" in panel[0] and "ended" in panel[1]


def test_the_closing_summary_names_sources_that_never_came_online_and_where_alerts_went():
    s = stats(
        door=stream_stats(captured=300, processed=290, alerts=2),
        lobby=stream_stats(state="offline", came_online=False, captured=0, error="connection refused"),
    )
    console = Console(record=True, width=80, color_system=None)
    console.print(closing_summary(s))
    text = console.export_text()
    assert "300" in text and "290" in text
    assert "never came online: lobby" in text and "connection refused" in text
    assert "2 alerts → mysql://root@db/dfd" in text and "4 wait in the spool" in text and "evidence/" in text


def test_sparkline_marks_scores_over_the_threshold():
    line = sparkline([0.0, 0.59, 0.6, 1.0], threshold=0.6)
    assert line.plain == "▁▅▅█"
    assert [s.style for s in line.spans] == ["green", "green", "red", "red"]


def test_the_fake_demo_stream_changes_the_face_and_nothing_far_from_it():
    image = demo.astronaut()
    (swap,) = demo.face_swaps(image, count=1)
    diff = np.abs(swap.astype(int) - image.astype(int)).sum(axis=2)
    x, y = FaceDetector("auto", 0.5, 1, 1).detect(image)[0].keypoints[2].astype(int)  # the nose
    assert diff[y - 10:y + 10, x - 10:x + 10].mean() > 10
    assert diff[:40].max() == 0 and diff[:, :60].max() == 0  # top rows and left edge untouched
    assert demo.manipulated(5.0) and not demo.manipulated(1.0)
    real = next(itertools.islice(demo.demo_frames("real"), 1))
    assert real.shape == (demo.SIZE[1], demo.SIZE[0], 3)


def test_watch_with_no_source_runs_the_demo(always_fake_model, tmp_path):
    out = subprocess.run(
        # 8 s: start-up (face models converted into the test cache) takes several, and an alert
        # needs min_track_frames faces and then min_duration_s
        [sys.executable, "-m", "stream.cli", "watch", "--no-console", "--duration", "8",
         "--model", str(always_fake_model), "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=90,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.splitlines()[-1])
    assert set(summary["streams"]) == {"real", "fake"}
    assert all(s["processed"] > 0 and s["alerts"] >= 1 for s in summary["streams"].values())
    assert (tmp_path / "evidence" / "fake").is_dir()
