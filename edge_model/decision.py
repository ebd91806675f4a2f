"""The one decision rule: when a face track's window scores mean "fake".

The live alert policy (`stream.policy`) and the offline verdict
(`edge_model.scan`, so `dfd scan` and `dfd evaluate`) both run this rule, so
a file's verdict and a live alert never disagree. It is pure: it sees
windows and times in seconds (capture timestamps live, frame index / frame
rate offline) and keeps per-track state; no clock, no I/O.

- Evidence: a window counts only once its track has `min_track_frames` faces
  whose mean detector score is at least `min_face_score`. Other windows change
  nothing, so a 3-frame fragment or a doubtful non-face never opens an alert.
- Hysteresis: a score at or above `on` opens a candidate; it survives while
  scores stay at or above `off` (= on - off_margin), so noise near the
  threshold neither fires nor resets it.
- An alert opens (`new`) once the candidate has lasted `min_duration_s` and
  the current score is at or above `on`.
- It ends when scores stay below `off` for `end_after_s`, or when the track
  ends; then the track is quiet for `cooldown_s`.
- A track decides (it can make a file `real`) only when its evidence spans
  at least `min_duration_s`: long enough for the rule to have raised an alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from edge_model.pipeline import WindowScore


@dataclass(frozen=True)
class DecisionLevels:
    """The rule's settings. These defaults are the only ones: `dfd watch`'s config takes them from here."""

    on: float  # the model's calibrated threshold unless a config says otherwise
    off_margin: float = 0.1
    min_duration_s: float = 1.0
    end_after_s: float = 2.0
    cooldown_s: float = 5.0
    min_track_frames: int = 8
    min_face_score: float = 0.65

    def __post_init__(self) -> None:
        if not 0.0 <= self.on <= 1.0 or self.off_margin < 0.0:
            raise ValueError("decision levels: need 0 <= on <= 1 and off_margin >= 0")

    @property
    def off(self) -> float:
        return max(0.0, self.on - self.off_margin)

    def is_evidence(self, window: WindowScore) -> bool:
        """Whether the window's track is long and face-like enough for its score to count."""
        return window.track_frames >= self.min_track_frames and window.face_score >= self.min_face_score


@dataclass(frozen=True)
class AlertChange:
    """What one window (or a track's end) did to the track's alert.

    `new`: an alert opened; `open`: it is still open; `end`: it ended. The
    scores are those since the candidate started (`started_at`).
    """

    kind: Literal["new", "open", "end"]
    track: int
    started_at: float
    ts: float
    score: float  # the current window's (at a track's end, the last window's)
    peak: float
    mean: float


@dataclass
class _Track:
    since: float | None = None  # candidate or alert start
    alerting: bool = False
    scores: list[float] = field(default_factory=list)
    low_since: float | None = None
    quiet_until: float = float("-inf")


class DecisionRule:
    """The alert lifecycle of every face track of one stream or file."""

    def __init__(self, levels: DecisionLevels) -> None:
        self.levels = levels
        self._tracks: dict[int, _Track] = {}

    def observe(self, window: WindowScore, ts: float) -> AlertChange | None:
        """Feed one window scored at time `ts` (seconds); None while no alert is open."""
        lv = self.levels
        if not lv.is_evidence(window):
            return None
        p, track = window.p_fake, window.track_id
        s = self._tracks.setdefault(track, _Track())
        if not s.alerting:
            if s.since is None:
                if p < lv.on or ts < s.quiet_until:
                    return None
                s.since, s.scores = ts, []
            if p < lv.off:
                s.since = None
                return None
            s.scores.append(p)
            if ts - s.since >= lv.min_duration_s and p >= lv.on:
                s.alerting, s.low_since = True, None
                return self._change("new", track, s, p, ts)
            return None
        s.scores.append(p)
        if p >= lv.off:
            s.low_since = None
        else:
            s.low_since = ts if s.low_since is None else s.low_since
            if ts - s.low_since >= lv.end_after_s:
                return self._end(track, s, p, ts)
        return self._change("open", track, s, p, ts)

    def track_ended(self, track: int, ts: float) -> AlertChange | None:
        """The tracker lost the face: its open alert ends and its state goes."""
        s = self._tracks.pop(track, None)
        if s is None or not s.alerting:
            return None
        return self._end(track, s, s.scores[-1], ts)

    def close(self, ts: float) -> list[AlertChange]:
        """End of the stream or file: every open alert ends."""
        return [c for track in list(self._tracks) if (c := self.track_ended(track, ts)) is not None]

    def _end(self, track: int, s: _Track, p: float, ts: float) -> AlertChange:
        change = self._change("end", track, s, p, ts)
        s.alerting, s.since, s.low_since, s.scores = False, None, None, []
        s.quiet_until = ts + self.levels.cooldown_s
        return change

    @staticmethod
    def _change(kind: Literal["new", "open", "end"], track: int, s: _Track, p: float, ts: float) -> AlertChange:
        started = s.since if s.since is not None else ts
        peak = max(s.scores)
        mean = min(peak, sum(s.scores) / len(s.scores))  # the sum's rounding can lift equal scores' mean 1 ulp
        return AlertChange(kind, track, started, ts, p, peak, mean)


def sustained_score(times: list[float], scores: list[float], min_duration_s: float) -> float | None:
    """The highest mean window score held over `min_duration_s` of a track: its fake score.

    Length-aware the way the rule is: one high window among low ones counts for
    its share of a span, and a track whose windows span less than
    `min_duration_s` has no score at all (None): it does not decide. Pass the
    evidence windows' times (ascending) and scores.
    """
    best: float | None = None
    end = 0
    for start, t0 in enumerate(times):
        end = max(end, start)
        while end < len(times) and times[end] - t0 < min_duration_s:
            end += 1
        if end == len(times):
            break
        span = scores[start : end + 1]
        mean = sum(span) / len(span)
        best = mean if best is None else max(best, mean)
    return best
