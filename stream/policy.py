"""The alert policy: when a track's window scores become an alert, and when it ends.

Pure: it sees (track, p_fake, time) and returns AlertEvents; no clock, no I/O.

- Hysteresis: scores at or above `on` open a candidate; it survives while
  scores stay at or above `off` (= on - margin), so noise near the threshold
  neither fires nor resets it.
- `new` once the candidate has lasted `min_duration_s` and the current score
  is at or above `on`; then an `update` every `update_every_s`.
- `end` when scores stay below `off` for `end_after_s`, or when the track ends.
  After an end the track is quiet for `cooldown_s`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from stream.messages import AlertEvent


@dataclass(frozen=True)
class PolicyLevels:
    on: float
    off: float
    min_duration_s: float = 1.0
    end_after_s: float = 2.0
    cooldown_s: float = 5.0
    update_every_s: float = 2.0


@dataclass
class _TrackState:
    since: float | None = None  # candidate or alert start
    alert_id: str | None = None
    scores: list[float] = field(default_factory=list)
    low_since: float | None = None
    last_event: float = 0.0
    quiet_until: float = float("-inf")


class AlertPolicy:
    """One stream's alert lifecycle, per face track."""

    def __init__(
        self,
        stream: str,
        levels: PolicyLevels,
        model_id: str,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        if not 0.0 <= levels.off <= levels.on:
            raise ValueError("policy: need 0 <= off <= on")
        self.stream = stream
        self.levels = levels
        self.model_id = model_id
        self._new_id = new_id
        self._tracks: dict[int, _TrackState] = {}

    def active(self) -> dict[int, str]:
        """track -> alert id of every open alert."""
        return {t: s.alert_id for t, s in self._tracks.items() if s.alert_id}

    def score(self, track: int, p_fake: float, ts: float) -> list[AlertEvent]:
        lv = self.levels
        s = self._tracks.setdefault(track, _TrackState())
        if s.alert_id is None:
            if s.since is None:
                if p_fake < lv.on or ts < s.quiet_until:
                    return []
                s.since, s.scores = ts, []
            if p_fake < lv.off:
                s.since = None
                return []
            s.scores.append(p_fake)
            if ts - s.since >= lv.min_duration_s and p_fake >= lv.on:
                s.alert_id, s.last_event, s.low_since = self._new_id(), ts, None
                return [self._event("new", track, s, p_fake, ts)]
            return []
        s.scores.append(p_fake)
        if p_fake < lv.off:
            s.low_since = ts if s.low_since is None else s.low_since
            if ts - s.low_since >= lv.end_after_s:
                return [self._end(track, s, p_fake, ts)]
        else:
            s.low_since = None
        if ts - s.last_event >= lv.update_every_s:
            s.last_event = ts
            return [self._event("update", track, s, p_fake, ts)]
        return []

    def track_ended(self, track: int, ts: float) -> list[AlertEvent]:
        """The tracker lost the face: its open alert ends and its state goes."""
        s = self._tracks.pop(track, None)
        if s is None or s.alert_id is None:
            return []
        return [self._end(track, s, s.scores[-1], ts)]

    def close(self, ts: float) -> list[AlertEvent]:
        """Shutdown: end every open alert."""
        return [e for track in list(self._tracks) for e in self.track_ended(track, ts)]

    def _end(self, track: int, s: _TrackState, p_fake: float, ts: float) -> AlertEvent:
        event = self._event("end", track, s, p_fake, ts, ended=True)
        s.alert_id, s.since, s.low_since, s.scores = None, None, None, []
        s.quiet_until = ts + self.levels.cooldown_s
        return event

    def _event(self, kind: str, track: int, s: _TrackState, p: float, ts: float, ended: bool = False) -> AlertEvent:
        return AlertEvent(
            kind=kind,
            alert_id=s.alert_id or "",
            stream=self.stream,
            track=track,
            ts=ts,
            started_at=s.since if s.since is not None else ts,
            ended_at=ts if ended else None,
            score=p,
            peak_score=max(s.scores),
            mean_score=sum(s.scores) / len(s.scores),
            threshold=self.levels.on,
            model_id=self.model_id,
            frame_ts=ts,
        )
