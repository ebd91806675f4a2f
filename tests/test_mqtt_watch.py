"""`dfd watch` end to end with MQTT, a webhook and metrics on: every alert event reaches the
broker and the webhook once, in order, and /metrics is scraped while it runs."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error

from bench.net import free_port
from stream.alerts.records import event_id
from stream.wire import AlertEvent
from tests.stream_clips import make_clip
from tests.test_alerts_contract import wait_until
from tests.test_metrics_endpoint import scrape
from tests.test_mqtt_sink import PrivateMosquitto, Subscriber, pytestmark  # noqa: F401 (the skip mark)
from tests.test_webhook_sink import Receiver


def test_watch_delivers_every_alert_event_to_mqtt_and_the_webhook(always_fake_model, tmp_path):
    broker = PrivateMosquitto(tmp_path / "mosquitto")
    broker.start()
    sub, hook = Subscriber(broker.port), Receiver(fail=2)
    clip = make_clip(tmp_path / "door.mp4", seconds=2.0, size=(480, 360))
    metrics_port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "watch", f"door={clip}", "--loop", "--no-console", "--duration", "8",
         "--model", str(always_fake_model), "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}",
         "--evidence-dir", str(tmp_path / "evidence"), "--mqtt", f"127.0.0.1:{broker.port}",
         "--webhook", hook.url, "--metrics", str(metrics_port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        scraped: dict = {}

        def processed() -> bool:
            nonlocal scraped
            assert proc.poll() is None, proc.stderr.read()
            try:
                scraped = scrape(metrics_port)
            except (urllib.error.URLError, ConnectionError):
                return False
            return scraped.get(("dfd_frames_processed_total", (("stream", "door"),)), 0) > 0

        wait_until(processed, "/metrics to count processed frames during the run")
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert scraped[("dfd_sink_state", (("sink", "mqtt"), ("state", "ok")))] == 1
    assert ("dfd_latency_seconds_count", (("stage", "capture_to_score"), ("stream", "door"))) in scraped

    lines = [json.loads(line) for line in out.splitlines()]
    alerts = [AlertEvent(**{k: v for k, v in e.items() if k != "type"}) for e in lines if e["type"] == "alert"]
    assert {"new", "end"} <= {a.kind for a in alerts}
    expected = [event_id(a) for a in alerts]
    summary = lines[-1]
    assert summary["type"] == "summary" and len(summary["sinks"]) == 2
    for sink in summary["sinks"].values():  # every event went out before dfd exited
        assert sink["written"] == len(expected) and sink["spool_depth"] == 0
    wait_until(lambda: len(sub.events()) >= len(expected), "every alert event at the broker's subscriber")
    assert [g["event_id"] for g in sub.events()] == expected
    assert [json.loads(body)["event_id"] for _, body in hook.took] == expected
    assert sub.on("dfd/door/suspected")[-1] == b"OFF" and sub.on("dfd/available")[-1] == b"offline"
    sub.close()
    hook.close()
    broker.stop()
