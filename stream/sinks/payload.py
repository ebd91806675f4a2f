"""The JSON that MQTT and webhooks carry for an alert event: Frigate's `type`/`before`/`after`.

`after` is the alert's state once this event happened; `before` its state at the
previous event this sink delivered (for `new`, and for an alert whose earlier
events went out before a restart, `before` equals `after`, as Frigate does for
`new`). `event_id` is the event's identity (the database's key, too): a replay
after an outage carries the same id, so a consumer can drop a duplicate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stream.alerts.records import event_id
from stream.wire import AlertEvent

KEEP_OPEN = 1000  # alerts remembered for `before`; an alert that never ended is forgotten after this many


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def alert_state(e: AlertEvent) -> dict[str, Any]:
    """An alert as it stands after event `e`, with Frigate's names where one exists."""
    return {
        "id": e.alert_id,
        "camera": e.stream,
        "label": "deepfake",
        "track": e.track,
        "active": e.kind != "end",
        "start_time": e.started_at,
        "end_time": _finite(e.ended_at),
        "frame_time": _finite(e.frame_ts),
        "score": _finite(e.score),
        "top_score": _finite(e.peak_score),
        "mean_score": _finite(e.mean_score),
        "threshold": e.threshold,
        "model": e.model_id,
        "has_snapshot": bool(e.evidence.get("face") or e.evidence.get("frame")),
        "has_clip": bool(e.evidence.get("clip")),
        "evidence": dict(e.evidence),
    }


@dataclass
class Delivery:
    event: AlertEvent
    body: dict[str, Any]  # {"event_id", "type", "before", "after"}
    stream_open: bool  # whether the event's stream still has an open alert after it

    @property
    def event_id(self) -> str:
        return self.body["event_id"]

    def json(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":"), allow_nan=False).encode()


class AlertStates:
    """The open alerts as a sink delivered them, for `before` and for a stream's on/off state.

    `deliveries` works on a copy; `commit` keeps it once the batch is delivered, so a
    retried batch gets the same `before` as its first try.
    """

    def __init__(self) -> None:
        self._open: dict[str, dict[str, Any]] = {}
        self._staged: dict[str, dict[str, Any]] = {}

    def deliveries(self, events: Sequence[AlertEvent]) -> list[Delivery]:
        staged = dict(self._open)
        out = []
        for e in events:
            after = alert_state(e)
            before = staged.get(e.alert_id, after)
            if e.kind == "end":
                staged.pop(e.alert_id, None)
            else:
                staged[e.alert_id] = after
            body = {"event_id": event_id(e), "type": e.kind, "before": before, "after": after}
            out.append(Delivery(e, body, any(s["camera"] == e.stream for s in staged.values())))
        while len(staged) > KEEP_OPEN:
            del staged[next(iter(staged))]
        self._staged = staged
        return out

    def commit(self) -> None:
        self._open = self._staged

    def open_streams(self) -> set[str]:
        return {s["camera"] for s in self._open.values()}
