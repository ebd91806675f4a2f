"""Alerts whose worker or supervisor died before ending them: ended as "interrupted", never left open.

A worker ends its open alerts when it stops; one killed (kill -9, a crash, the
OOM killer) cannot. The supervisor keeps the last event of every open alert and
ends those of a dead worker's streams itself; alerts left open by a supervisor
that died are ended by the next start (stream.alerts.recorder). Either way the
end says `end_reason = "interrupted"` and `ended_at` is the last time the alert
was known to be going.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from typing import Any, Protocol

from stream.alerts.records import AlertRecord
from stream.wire import AlertEvent

INTERRUPTED = "interrupted"


def interrupted_end(last: AlertEvent, ts: float) -> AlertEvent:
    """The end of an alert whose worker died, made at `ts` from its last event."""
    details = {**last.details, "end_reason": INTERRUPTED}
    return replace(last, kind="end", ts=max(ts, last.ts), ended_at=last.ts, evidence={}, details=details)


def left_open_end(alert: AlertRecord) -> AlertEvent:
    """The end of an alert a dead run left open in the database, at its last stored event's time."""
    peak = alert.peak_score if alert.peak_score is not None else 0.0
    return AlertEvent(
        kind="end", alert_id=alert.id, stream=alert.stream, track=alert.track, ts=alert.updated_at,
        started_at=alert.started_at, ended_at=alert.updated_at, score=peak, peak_score=peak,
        mean_score=alert.mean_score if alert.mean_score is not None else peak,
        threshold=alert.threshold if alert.threshold is not None else 0.0, model_id=alert.model_id,
        details={**alert.details, "end_reason": INTERRUPTED},
    )


class Worker(Protocol):
    """What is read of a worker in the process table (a stream.processes.Child)."""

    name: str
    restarts: int  # every restart: a new process
    spec: Any  # its WorkerSpec: `frames` names the streams it serves

    @property
    def done(self) -> bool: ...


class OpenAlerts:
    """The last event of every open alert of this run: what to end when a worker dies."""

    def __init__(self, end: Callable[[AlertEvent], None]) -> None:
        self._end = end  # handles an end event as if a worker had sent it (it is folded back in here)
        self._last: dict[str, AlertEvent] = {}  # by alert id
        self._lives: dict[str, tuple[int, bool]] = {}  # worker -> (restarts, done) when last seen

    def fold(self, event: AlertEvent) -> None:
        if event.kind == "end":
            self._last.pop(event.alert_id, None)
        elif event.kind == "new" or event.alert_id in self._last:
            self._last[event.alert_id] = event

    def interrupt(self, streams: Collection[str]) -> None:
        """End the open alerts of `streams`: their worker is gone."""
        now = time.time()
        for event in [e for e in self._last.values() if e.stream in streams]:
            self._end(interrupted_end(event, now))

    def check_workers(self, workers: Iterable[Worker], drain: Callable[[], None]) -> None:
        """After the process table's check: end the open alerts of every worker process that ended
        since the last call (restarted, or given up); `drain` first takes in what it sent before."""
        for w in workers:
            life = (w.restarts, w.done)
            if self._lives.setdefault(w.name, life) != life:
                self._lives[w.name] = life
                drain()
                self.interrupt(w.spec.frames)
