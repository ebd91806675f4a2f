"""Alert records as read back, and the rows an AlertEvent becomes."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from stream.wire import AlertEvent

EVIDENCE_KINDS = ("face", "frame", "clip")
MAX_NAME = 255  # the width of stream and model_id columns
# A fixed namespace, so the same event always gets the same id, in any process.
EVENT_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5e7f-9c0d-1a2b3c4d5e6f")


@dataclass
class EventRecord:
    """One stored lifecycle event of an alert."""

    kind: str
    ts: float
    frame_ts: float | None
    score: float | None
    peak_score: float | None
    mean_score: float | None
    ended_at: float | None
    evidence: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class AlertRecord:
    """One alert as it stands after its latest stored event."""

    id: str
    stream: str
    track: int
    started_at: float
    ended_at: float | None
    peak_score: float | None
    mean_score: float | None
    threshold: float | None
    model_id: str
    evidence: dict[str, str]
    details: dict[str, Any]
    state: str  # "open" until its end event is stored, then "ended"
    updated_at: float
    end_reason: str | None = None  # "interrupted": its worker or the supervisor died before it ended
    events: list[EventRecord] = field(default_factory=list)


def event_id(event: AlertEvent) -> str:
    """The same (alert, kind, time) always maps to the same id: a replayed event is a no-op."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{event.alert_id}|{event.kind}|{event.ts!r}"))


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _json(value: dict[str, Any]) -> str | None:
    """JSON text for a JSON column; NaN and infinities (not JSON) become null."""
    if not value:
        return None

    def clean(v: Any) -> Any:
        if isinstance(v, float):
            return _finite(v)
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), separators=(",", ":"), default=str)


def alert_row(event: AlertEvent) -> dict[str, Any]:
    evidence = event.evidence or {}
    return {
        "id": event.alert_id,
        "stream": event.stream[:MAX_NAME],
        "track": int(event.track),
        "started_at": event.started_at,
        "ended_at": _finite(event.ended_at),
        "peak_score": _finite(event.peak_score),
        "mean_score": _finite(event.mean_score),
        "threshold": _finite(event.threshold),
        "model_id": event.model_id[:MAX_NAME],
        "face_path": evidence.get("face") or None,
        "frame_path": evidence.get("frame") or None,
        "clip_path": evidence.get("clip") or None,
        "details": _json(event.details),
        "last_kind": event.kind,
        "updated_at": event.ts,
        "end_reason": _end_reason(event),
    }


def _end_reason(event: AlertEvent) -> str | None:
    reason = event.details.get("end_reason") if event.kind == "end" else None
    return str(reason)[:16] if reason else None


def event_row(event: AlertEvent) -> dict[str, Any]:
    return {
        "event_id": event_id(event),
        "alert_id": event.alert_id,
        "kind": event.kind,
        "ts": event.ts,
        "frame_ts": _finite(event.frame_ts),
        "score": _finite(event.score),
        "peak_score": _finite(event.peak_score),
        "mean_score": _finite(event.mean_score),
        "ended_at": _finite(event.ended_at),
        "evidence": _json(event.evidence),
        "details": _json(event.details),
    }


def _loads(text: Any) -> dict[str, Any]:
    if text is None or text == "":
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}


def alert_from_row(row: dict[str, Any]) -> AlertRecord:
    evidence = {k: row[f"{k}_path"] for k in EVIDENCE_KINDS if row.get(f"{k}_path")}
    return AlertRecord(
        id=row["id"], stream=row["stream"], track=int(row["track"]),
        started_at=row["started_at"], ended_at=row["ended_at"],
        peak_score=row["peak_score"], mean_score=row["mean_score"], threshold=row["threshold"],
        model_id=row["model_id"], evidence=evidence, details=_loads(row["details"]),
        state="ended" if row["last_kind"] == "end" else "open", updated_at=row["updated_at"],
        end_reason=row.get("end_reason"),
    )


def event_from_row(row: dict[str, Any]) -> EventRecord:
    return EventRecord(
        kind=row["kind"], ts=row["ts"], frame_ts=row["frame_ts"], score=row["score"],
        peak_score=row["peak_score"], mean_score=row["mean_score"], ended_at=row["ended_at"],
        evidence=_loads(row["evidence"]), details=_loads(row["details"]),
    )
