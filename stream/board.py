"""The alerts of one run as the console lists them: each alert's events folded into one row."""

from __future__ import annotations

from dataclasses import dataclass

from stream.wire import AlertEvent

KEPT_ALERTS = 50


@dataclass
class AlertRow:
    """One alert as the console lists it: its events folded into one line that changes state."""

    alert_id: str
    stream: str
    track: int
    started_at: float
    peak: float
    score: float  # the last window score
    state: str = "open"  # "open" | "ended"
    evidence: str = ""  # the face snapshot, else the frame; or why there is none

    def update(self, m: AlertEvent) -> None:
        self.peak, self.score = m.peak_score, m.score
        if m.kind == "end":
            self.state = "ended"
        if not self.evidence:
            self.evidence = m.evidence.get("face") or m.evidence.get("frame") or ""
            if not self.evidence and m.details.get("evidence_error"):
                self.evidence = f"none: {m.details['evidence_error']}"


class AlertBoard:
    """The alerts of this run, one row each (their events folded in); the last KEPT_ALERTS."""

    def __init__(self) -> None:
        self._rows: dict[str, AlertRow] = {}  # by id, oldest first

    def fold(self, m: AlertEvent) -> None:
        row = self._rows.get(m.alert_id)
        if row is None:
            row = self._rows[m.alert_id] = AlertRow(m.alert_id, m.stream, m.track, m.started_at, m.peak_score, m.score)
            if len(self._rows) > KEPT_ALERTS:
                del self._rows[next(iter(self._rows))]
        row.update(m)

    def rows(self) -> list[AlertRow]:
        """Open alerts first, then ended ones; newest first in each."""
        return sorted(self._rows.values(), key=lambda r: (r.state != "open", -r.started_at))
