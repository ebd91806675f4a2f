"""The live alert policy: the decision rule's changes as alert messages.

When a track is fake is `edge_model.decision`'s rule, the one `dfd scan`
runs too. This wrapper gives each alert an id and turns the rule's changes
into AlertEvents: `new`, an `update` every `update_every_s` while it is
open, and `end`. Pure: no clock, no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from edge_model.decision import AlertChange, DecisionLevels, DecisionRule
from stream.wire import AlertEvent

if TYPE_CHECKING:
    from edge_model.pipeline import WindowScore


class AlertPolicy:
    """One stream's alerts, per face track."""

    def __init__(
        self,
        stream: str,
        levels: DecisionLevels,
        model_id: str,
        update_every_s: float,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.stream = stream
        self.levels = levels
        self.model_id = model_id
        self.update_every_s = update_every_s
        self._new_id = new_id
        self._rule = DecisionRule(levels)
        self._open: dict[int, tuple[str, float]] = {}  # track -> (alert id, time of its last event)

    def score(self, window: WindowScore, ts: float) -> list[AlertEvent]:
        """One scored window at capture time `ts`."""
        change = self._rule.observe(window, ts)
        if change is None:
            return []
        if change.kind == "new":
            self._open[change.track] = (self._new_id(), ts)
            return [self._event("new", change)]
        if change.kind == "end":
            return [self._event("end", change)]
        alert_id, last = self._open[change.track]
        if ts - last < self.update_every_s:
            return []
        self._open[change.track] = (alert_id, ts)
        return [self._event("update", change)]

    def track_ended(self, track: int, ts: float) -> list[AlertEvent]:
        """The tracker lost the face: its open alert ends."""
        change = self._rule.track_ended(track, ts)
        return [] if change is None else [self._event("end", change)]

    def close(self, ts: float) -> list[AlertEvent]:
        """Shutdown: end every open alert."""
        return [self._event("end", change) for change in self._rule.close(ts)]

    def _event(self, kind: str, change: AlertChange) -> AlertEvent:
        alert_id = self._open[change.track][0]
        if kind == "end":
            del self._open[change.track]
        return AlertEvent(
            kind=kind,
            alert_id=alert_id,
            stream=self.stream,
            track=change.track,
            ts=change.ts,
            started_at=change.started_at,
            ended_at=change.ts if kind == "end" else None,
            score=change.score,
            peak_score=change.peak,
            mean_score=change.mean,
            threshold=self.levels.on,
            model_id=self.model_id,
            frame_ts=change.ts,
        )
