"""Per-stream numbers of a run, from the captures' states and the workers' stats.

Every process reports cumulative counters since its own start, stamped with
that start time. A restarted process is a new (name, started_at) key whose
counts begin again at zero, so totals never run backwards and no restart has
to be guessed from a counter that went down.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from stream.wire import AlertEvent, ScoreEvent, StreamState, WorkerStats

RATE_WINDOW_S = 5.0
LATENCY_WINDOW_S = 10.0  # latency figures older than this are stale: shown as none
HISTORY = 24


@dataclass
class Totals:
    """Sums of cumulative counters over every process (and every restart of one) that reported them."""

    _last: dict[tuple[str, float], tuple[int, ...]] = field(default_factory=dict)

    def update(self, process: str, started_at: float, counts: tuple[int, ...]) -> None:
        self._last[(process, started_at)] = counts

    def last(self, process: str, started_at: float) -> tuple[int, ...] | None:
        return self._last.get((process, started_at))

    def total(self, width: int) -> tuple[int, ...]:
        sums = [0] * width
        for counts in self._last.values():
            for i, c in enumerate(counts):
                sums[i] += c
        return tuple(sums)


@dataclass
class StreamStats:
    """Running numbers of one stream."""

    name: str
    shown: str
    state: str = "starting"
    error: str = ""
    reconnects: int = 0
    faces: int = 0
    alerts: int = 0
    active: set = field(default_factory=set)
    score: float | None = None
    history: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    came_online: bool = False  # a frame arrived at least once
    last_frame: float = field(default_factory=time.monotonic)  # for the stall watchdog
    _capture: Totals = field(default_factory=Totals)  # (captured, dropped: no worker was free)
    _work: Totals = field(default_factory=Totals)  # (processed, dropped: overwritten in the ring, faces seen)
    _samples: deque = field(default_factory=deque)  # (t, captured, dropped_at_capture, processed, dropped_in_ring)
    _latency: deque = field(default_factory=lambda: deque(maxlen=600))  # (t, ms)

    @property
    def captured(self) -> int:
        return self._capture.total(2)[0]

    @property
    def processed(self) -> int:
        return self._work.total(3)[0]

    def on_state(self, m: StreamState, now: float) -> None:
        before = self._capture.last(m.stream, m.started_at)
        if m.captured > (before[0] if before else 0) or m.state != self.state:
            self.last_frame = now  # the stall watchdog counts from the last frame or state change
        self._capture.update(m.stream, m.started_at, (m.captured, m.dropped))
        self.came_online = self.came_online or m.captured > 0
        self.state, self.error, self.reconnects = m.state, m.error, max(self.reconnects, m.reconnects)
        self._sample(now)

    def on_stats(self, m: WorkerStats, now: float) -> None:
        self._work.update(m.worker, m.started_at, (m.processed, m.dropped, m.faces_seen))
        self.faces = m.faces
        self._latency.extend((now, ms) for ms in m.latency_ms)
        self._sample(now)

    def on_score(self, m: ScoreEvent) -> None:
        self.score = m.p_fake
        self.history.append(m.p_fake)

    def on_alert(self, m: AlertEvent) -> None:
        if m.kind == "new":
            self.alerts += 1
            self.active.add(m.alert_id)
        elif m.kind == "end":
            self.active.discard(m.alert_id)

    def _sample(self, now: float) -> None:
        self._samples.append((now, *self._capture.total(2), *self._work.total(3)[:2]))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_S:
            self._samples.popleft()

    def _rates(self) -> tuple[float, float, float]:
        """(capture, processed, dropped) frames a second over the last RATE_WINDOW_S."""
        if len(self._samples) < 2:
            return 0.0, 0.0, 0.0
        first, last = self._samples[0], self._samples[-1]
        span = last[0] - first[0]
        if span <= 0:
            return 0.0, 0.0, 0.0
        d = [(b - a) / span for a, b in zip(first[1:], last[1:])]
        return d[0], d[2], d[1] + d[3]

    def snapshot(self, now: float) -> dict[str, Any]:
        """The stream's numbers. "dropped" counts every captured frame no worker scored."""
        capture_fps, process_fps, dropped_fps = self._rates()
        captured, dropped_at_capture = self._capture.total(2)
        processed, dropped_in_ring, faces_total = self._work.total(3)
        fresh = [ms for t, ms in self._latency if now - t <= LATENCY_WINDOW_S]
        lat = sorted(fresh) if fresh else None
        return {
            "source": self.shown,
            "state": self.state,
            "error": self.error,
            "reconnects": self.reconnects,
            "capture_fps": round(capture_fps, 1),
            "process_fps": round(process_fps, 1),
            "dropped_fps": round(dropped_fps, 1),
            "captured": captured,
            "processed": processed,
            "dropped": dropped_at_capture + dropped_in_ring,
            "dropped_at_capture": dropped_at_capture,
            "latency_p50_ms": None if lat is None else round(percentile(lat, 50), 1),
            "latency_p95_ms": None if lat is None else round(percentile(lat, 95), 1),
            "faces": self.faces,
            "faces_total": faces_total,
            "score": None if self.score is None else round(self.score, 3),
            "history": [round(x, 3) for x in self.history],
            "alerts": self.alerts,
            "active_alerts": len(self.active),
            "came_online": self.came_online,
        }


def percentile(ordered: list[float], q: float) -> float:
    """numpy's default (linear) percentile of sorted values, without numpy: the supervisor does not load it."""
    k = (len(ordered) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
