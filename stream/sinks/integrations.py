"""The integrations the config turns on, owned by the supervisor next to the alert recorder.

The supervisor calls `on_message` for each message it handles, `tick` on each
pass of its loop, `status` in stats() and `close` at stop. Nothing here waits on
the network in the supervisor's thread: MQTT and each webhook URL have their own
writer thread and spool (`<alerts.spool>.mqtt`, `<alerts.spool>.webhook-<hash>`),
the metrics and the web page their own HTTP threads.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stream.alerts.recorder import AlertRecorder, start_writer
from stream.config import Config, secret_from_env
from stream.wire import AlertEvent, FaceBoxes, Message, ScoreEvent, WorkerStats

MQTT_BATCH = 20  # events in flight at once; a batch cut by an outage is resent whole (same event ids)
METRICS_EVERY_S = 1.0

if TYPE_CHECKING:
    from stream.sinks.metrics import Metrics
    from stream.sinks.mqtt import MqttSink
    from stream.web.server import WebServer


class Integrations:
    def __init__(self, writers: dict[str, AlertRecorder], mqtt: MqttSink | None = None,
                 metrics: Metrics | None = None, web: WebServer | None = None) -> None:
        self.writers, self.mqtt, self.metrics, self.web = writers, mqtt, metrics, web
        self._next_update = 0.0

    def on_message(self, msg: Message) -> None:
        if self.web and isinstance(msg, AlertEvent | FaceBoxes):
            self.web.on_message(msg)
        if isinstance(msg, AlertEvent):
            for writer in self.writers.values():
                writer.submit(msg)
            if self.metrics and msg.kind == "new" and msg.frame_ts > 0:
                self.metrics.observe(msg.stream, "capture_to_alert", [msg.ts - msg.frame_ts])
        elif isinstance(msg, ScoreEvent) and self.mqtt:
            self.mqtt.score(msg)
        elif isinstance(msg, WorkerStats) and self.metrics:
            self.metrics.observe(msg.stream, "capture_to_score", [ms / 1000.0 for ms in msg.latency_ms])
            for stage, samples in msg.stage_ms.items():
                self.metrics.observe_stage(msg.stream, stage, [ms / 1000.0 for ms in samples])

    def tick(self, stats: Callable[[], dict[str, Any]]) -> None:
        """Hand the metrics and the web page a fresh stats() about once a second (only when one is on)."""
        now = time.monotonic()
        if (self.metrics or self.web) and now >= self._next_update:
            self._next_update = now + METRICS_EVERY_S
            snapshot = stats()
            for consumer in (self.metrics, self.web):
                if consumer:
                    consumer.update(snapshot)

    def status(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, writer in self.writers.items():
            s = writer.status()
            out[name] = {"state": s.state, "spool_depth": s.spool_depth, "written": s.written,
                         "backend": s.backend, "last_error": s.last_error}
        return out

    def close(self, timeout: float = 3.0) -> None:
        """Deliver what the sinks take within `timeout`; the rest waits in their spools for the next start."""
        for writer in self.writers.values():
            writer.close(timeout)
        if self.metrics:
            self.metrics.close()
        if self.web:
            self.web.close()


def open_integrations(cfg: Config, streams: list[str], model_id: str) -> Integrations:
    """Start the sinks the config turns on. A bad setting (TLS file, credentials, port) is one DfdError line."""
    m, w, spool = cfg.mqtt, cfg.webhooks, cfg.alerts.spool
    opened = Integrations({})
    try:
        # Each integration's module loads only when it is on: the web page's alone brings OpenCV (54 MiB).
        if m.enabled:
            from stream.sinks.mqtt import MqttSink

            user = secret_from_env(m.username_env, "mqtt.username_env")
            opened.mqtt = MqttSink(m, streams, model_id, user, secret_from_env(m.password_env, "mqtt.password_env"))
            opened.writers["mqtt"] = start_writer(opened.mqtt, f"{spool}.mqtt", batch_size=MQTT_BATCH)
        if w.enabled:
            from stream.sinks.webhook import WebhookSink

            secret = secret_from_env(w.secret_env, "webhooks.secret_env")
            for url in w.urls:
                sink = WebhookSink(url, secret, w.timeout_s)
                tag = hashlib.sha256(url.encode()).hexdigest()[:8]
                opened.writers[sink.masked] = start_writer(sink, f"{spool}.webhook-{tag}", batch_size=1)
        if cfg.metrics.enabled:
            from stream.sinks.metrics import Metrics

            opened.metrics = Metrics(cfg.metrics.bind, cfg.metrics.port)
        if cfg.web.enabled:
            from stream.web.server import open_web

            opened.web = open_web(cfg, streams)
    except BaseException:
        opened.close(timeout=0.5)
        raise
    return opened
