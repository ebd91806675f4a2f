"""Prometheus metrics of `dfd watch` on /metrics, from the supervisor's stats() dict.

The supervisor hands over its stats() dict about once a second (`update`) and
each latency sample as it arrives (`observe`); a scrape turns the last dict into
metric families, so counting stays where it is and nothing here can drift from
the console. Names follow Prometheus' conventions: `dfd_` prefix, base units
(seconds), `_total` counters, a `stream` label.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge_model.errors import DfdError

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)  # one stage of one frame: milliseconds
STREAM_STATES = ("starting", "online", "reconnecting", "offline", "ended")
SINK_STATES = ("ok", "spooling", "down")

# per stream: (name, kind, help, key in stats()["streams"][name])
STREAM_SERIES = (
    ("dfd_stream_capture_fps", "gauge", "Frames captured per second (last 5 s).", "capture_fps"),
    ("dfd_stream_processed_fps", "gauge", "Frames scored per second (last 5 s).", "process_fps"),
    ("dfd_stream_skipped_fps", "gauge", "Captured frames no worker scored, per second (last 5 s).", "dropped_fps"),
    ("dfd_frames_captured", "counter", "Frames captured.", "captured"),
    ("dfd_frames_processed", "counter", "Frames scored.", "processed"),
    ("dfd_frames_skipped", "counter", "Captured frames no worker scored.", "dropped"),
    ("dfd_stream_faces", "gauge", "Faces in the stream's last scored frame.", "faces"),
    ("dfd_faces", "counter", "Faces in the stream's scored frames.", "faces_total"),
    ("dfd_stream_score", "gauge", "The last window score p(fake).", "score"),
    ("dfd_alerts_raised", "counter", "Alerts raised.", "alerts"),
    ("dfd_stream_reconnects", "counter", "Reconnects of the stream's source.", "reconnects"),
)


class _StatsCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        stats = self._metrics.latest()
        yield from _stream_families(stats.get("streams") or {})
        yield from _process_families(stats.get("processes") or {})
        yield from _sink_families(stats)
        up = GaugeMetricFamily("dfd_uptime_seconds", "Seconds since `dfd watch` started.")
        up.add_metric([], float(stats.get("uptime_s") or 0.0))
        rejected = CounterMetricFamily("dfd_messages_rejected", "Malformed messages dropped.")
        rejected.add_metric([], float(stats.get("rejected") or 0))
        info = GaugeMetricFamily("dfd_model_info", "The model in use (value 1).", labels=["model", "threshold"])
        if stats.get("model"):
            info.add_metric([str(stats["model"]), str(stats.get("threshold"))], 1.0)
        yield from (up, rejected, info)


def _family(name: str, kind: str, doc: str, labels: list[str]) -> Metric:
    cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    return cls(name, doc, labels=labels)


def _stream_families(streams: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    for name, kind, doc, key in STREAM_SERIES:
        fam = _family(name, kind, doc, ["stream"])
        for stream, s in streams.items():
            if s.get(key) is not None:
                fam.add_metric([stream], float(s[key]))
        yield fam
    alerts = GaugeMetricFamily("dfd_alerts", "Alerts of this run by state.", labels=["stream", "state"])
    state = GaugeMetricFamily("dfd_stream_state", "The source's state (1 for the current one).",
                              labels=["stream", "state"])
    for stream, s in streams.items():
        active = int(s.get("active_alerts") or 0)
        alerts.add_metric([stream, "open"], active)
        alerts.add_metric([stream, "ended"], int(s.get("alerts") or 0) - active)
        for st in STREAM_STATES:
            state.add_metric([stream, st], float(s.get("state") == st))
    yield from (alerts, state)


def _process_families(processes: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    restarts = CounterMetricFamily("dfd_process_restarts", "Restarts of a capture or worker process.",
                                   labels=["process", "kind"])
    alive = GaugeMetricFamily("dfd_process_up", "Whether the process is alive.", labels=["process", "kind"])
    for name, p in processes.items():
        restarts.add_metric([name, str(p.get("kind"))], float(p.get("restarts") or 0))
        alive.add_metric([name, str(p.get("kind"))], float(bool(p.get("alive"))))
    yield from (restarts, alive)


def _sink_families(stats: dict[str, Any]) -> Iterator[Metric]:
    """The database's writer (stats["sink"]) and each integration's (stats["sinks"])."""
    sinks = {"database": stats["sink"]} if stats.get("sink") else {}
    sinks.update(stats.get("sinks") or {})
    depth = GaugeMetricFamily("dfd_sink_spool_depth", "Alert events waiting in the sink's spool.", labels=["sink"])
    written = CounterMetricFamily("dfd_sink_delivered", "Alert events the sink took.", labels=["sink"])
    state = GaugeMetricFamily("dfd_sink_state", "The sink's state (1 for the current one).", labels=["sink", "state"])
    for name, s in sinks.items():
        depth.add_metric([name], float(s.get("spool_depth") or 0))
        written.add_metric([name], float(s.get("written") or 0))
        for st in SINK_STATES:
            state.add_metric([name, st], float(s.get("state") == st))
    yield from (depth, written, state)


class Metrics:
    """/metrics on bind:port (port 0: any free one, see `.port`), served by a daemon thread."""

    def __init__(self, bind: str = "127.0.0.1", port: int = 0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._stats: dict[str, Any] = {}
        self.latency = Histogram(
            "dfd_latency_seconds", "Latency from a frame's capture to a stage (stage label).",
            ["stream", "stage"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.stages = Histogram(
            "dfd_stage_seconds", "Time a worker spends on one frame in a stage: detect (with track and crop), "
            "encode, score.", ["stream", "stage"], buckets=STAGE_BUCKETS, registry=self.registry,
        )
        self.registry.register(_StatsCollector(self))
        try:
            self._server, _ = start_http_server(port, bind, registry=self.registry)
        except OSError as exc:
            raise DfdError(f"metrics: cannot listen on {bind}:{port}: {exc.strerror or exc}") from None
        self.bind, self.port = bind, int(self._server.server_address[1])

    def update(self, stats: dict[str, Any]) -> None:
        with self._lock:
            self._stats = stats

    def latest(self) -> dict[str, Any]:
        with self._lock:
            return self._stats

    def observe(self, stream: str, stage: str, seconds: Iterable[float]) -> None:
        """Latency from a frame's capture to `stage` (capture_to_score, capture_to_alert)."""
        _observe(self.latency, stream, stage, seconds)

    def observe_stage(self, stream: str, stage: str, seconds: Iterable[float]) -> None:
        """Time a worker spent in `stage` (detect, encode, score), one sample a frame."""
        _observe(self.stages, stream, stage, seconds)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _observe(histogram: Histogram, stream: str, stage: str, seconds: Iterable[float]) -> None:
    child = histogram.labels(stream=stream, stage=stage)
    for s in seconds:
        child.observe(max(0.0, s))
