"""/metrics, scraped over HTTP and read with prometheus_client's own text parser."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge_model.errors import DfdError
from stream.config import CONFIG_DIR, ConfigError, load_config
from stream.sinks.integrations import open_integrations
from stream.sinks.metrics import Metrics
from stream.wire import WorkerStats
from tests.test_alerts_contract import lifecycle


def stream_stats(**over) -> dict:
    s = {"source": "demo://x", "state": "online", "error": "", "reconnects": 1, "capture_fps": 25.0,
         "process_fps": 24.5, "dropped_fps": 0.5, "captured": 1000, "processed": 980, "dropped": 20,
         "dropped_at_capture": 5, "latency_p50_ms": 40.0, "latency_p95_ms": 80.0, "faces": 1, "score": 0.91,
         "history": [0.9], "alerts": 3, "active_alerts": 1, "came_online": True, "faces_total": 950}
    return {**s, **over}


STATS = {
    "uptime_s": 12.5, "model": "dfd-test-1", "threshold": 0.55,
    "streams": {"real": stream_stats(score=None, alerts=0, active_alerts=0), "fake": stream_stats()},
    "processes": {"real": {"kind": "capture", "pid": 1, "alive": True, "restarts": 0},
                  "w0": {"kind": "worker", "pid": 2, "alive": False, "restarts": 2}},
    "rejected": 4,
    "sink": {"state": "spooling", "spool_depth": 7, "written": 11, "backend": "sqlite:///a.db", "last_error": "x"},
    "sinks": {"mqtt": {"state": "ok", "spool_depth": 0, "written": 5, "backend": "mqtt://h:1", "last_error": ""}},
}


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_the_stats_and_latencies_as_prometheus_series(tmp_path):
    cfg = load_config(None, {"metrics.enabled": True, "metrics.port": 0, "alerts.spool": str(tmp_path / "s")})
    hub = open_integrations(cfg, ["real", "fake"], "dfd-test-1")
    try:
        hub.tick(lambda: STATS)
        hub.on_message(WorkerStats("w0", "fake", 1.0, 0.0, 10, 0, 0, 1, latency_ms=[30.0, 70.0, 700.0],
                                   stage_ms={"detect": [1.8, 2.1], "encode": [7.6, 8.0], "score": [0.1, 0.1]}))
        new = lifecycle("fake", updates=0)[0]  # frame_ts is 50 ms before ts
        hub.on_message(new)
        got = scrape(hub.metrics.port)
    finally:
        hub.close()
    fake, real = (("stream", "fake"),), (("stream", "real"),)
    assert got[("dfd_stream_capture_fps", fake)] == 25.0
    assert got[("dfd_stream_processed_fps", fake)] == 24.5
    assert got[("dfd_stream_skipped_fps", fake)] == 0.5
    assert got[("dfd_frames_captured_total", fake)] == 1000
    assert got[("dfd_frames_processed_total", fake)] == 980
    assert got[("dfd_frames_skipped_total", fake)] == 20
    assert got[("dfd_stream_faces", fake)] == 1
    assert got[("dfd_faces_total", fake)] == 950
    assert got[("dfd_stream_score", fake)] == 0.91 and ("dfd_stream_score", real) not in got
    assert got[("dfd_alerts_raised_total", fake)] == 3
    assert got[("dfd_alerts", (("state", "open"), ("stream", "fake")))] == 1
    assert got[("dfd_alerts", (("state", "ended"), ("stream", "fake")))] == 2
    assert got[("dfd_stream_state", (("state", "online"), ("stream", "real")))] == 1
    assert got[("dfd_stream_state", (("state", "offline"), ("stream", "real")))] == 0
    assert got[("dfd_stream_reconnects_total", fake)] == 1
    assert got[("dfd_process_restarts_total", (("kind", "worker"), ("process", "w0")))] == 2
    assert got[("dfd_process_up", (("kind", "worker"), ("process", "w0")))] == 0
    assert got[("dfd_sink_spool_depth", (("sink", "database"),))] == 7
    assert got[("dfd_sink_state", (("sink", "database"), ("state", "spooling")))] == 1
    assert got[("dfd_sink_delivered_total", (("sink", "mqtt"),))] == 5
    assert got[("dfd_messages_rejected_total", ())] == 4
    assert got[("dfd_model_info", (("model", "dfd-test-1"), ("threshold", "0.55")))] == 1
    score = (("stage", "capture_to_score"), ("stream", "fake"))
    assert got[("dfd_latency_seconds_count", score)] == 3
    assert got[("dfd_latency_seconds_bucket", (("le", "0.05"), *score))] == 1
    assert got[("dfd_latency_seconds_bucket", (("le", "1.0"), *score))] == 3
    alert = (("stage", "capture_to_alert"), ("stream", "fake"))
    assert got[("dfd_latency_seconds_count", alert)] == 1
    assert got[("dfd_latency_seconds_sum", alert)] == pytest.approx(new.ts - new.frame_ts)
    encode = (("stage", "encode"), ("stream", "fake"))
    assert got[("dfd_stage_seconds_count", encode)] == 2
    assert got[("dfd_stage_seconds_bucket", (("le", "0.005"), *encode))] == 0
    assert got[("dfd_stage_seconds_bucket", (("le", "0.01"), *encode))] == 2
    assert got[("dfd_stage_seconds_count", (("stage", "detect"), ("stream", "fake")))] == 2
    # The Grafana dashboard asks only for series that exist.
    dashboard = json.loads(Path(CONFIG_DIR, "grafana-dashboard.json").read_text())
    asked = {n for p in dashboard["panels"] for t in p["targets"] for n in re.findall(r"dfd_[a-z_]+", t["expr"])}
    assert asked and asked <= {name for name, _ in got}


def test_metrics_bind_elsewhere_only_when_allowed():
    with pytest.raises(ConfigError, match=r"^metrics.bind: not a loopback address; set metrics.allow_remote"):
        load_config(None, {"metrics.enabled": True, "metrics.bind": "0.0.0.0"})
    cfg = load_config(None, {"metrics.enabled": True, "metrics.bind": "0.0.0.0", "metrics.allow_remote": True})
    assert cfg.metrics.bind == "0.0.0.0"
    assert load_config(None, {"metrics.enabled": True, "metrics.bind": "::1"}).metrics.bind == "::1"


def test_a_taken_port_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(DfdError, match=rf"^metrics: cannot listen on 127.0.0.1:{port}: "):
            Metrics("127.0.0.1", port)
