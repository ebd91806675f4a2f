"""Every message that crosses a ZeroMQ socket, and the one place that turns it into bytes and back.

A message is one frame: a topic, a space, then compact JSON. A frame that
does not decode into a known message raises `MessageError`; receivers count it
and skip it, they never crash on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal

from edge_model.errors import DfdError

MAX_MESSAGE_BYTES = 1 << 20


class MessageError(DfdError):
    """A malformed or unknown message."""


@dataclass
class FrameReady:
    """Capture -> workers: a frame is in the ring (only the header travels)."""

    TOPIC: ClassVar[str] = "frame"
    stream: str
    slot: int
    seq: int
    ts: float  # capture time, time.time()
    width: int
    height: int


@dataclass
class StreamState:
    """Capture -> supervisor: online / reconnecting / offline, and counters."""

    TOPIC: ClassVar[str] = "state"
    stream: str
    state: Literal["starting", "online", "reconnecting", "offline", "ended"]
    ts: float
    reconnects: int = 0
    captured: int = 0  # frames written to the ring since start
    dropped: int = 0  # frames no worker could take
    error: str = ""  # masked


@dataclass
class WorkerStats:
    """Worker -> supervisor, about once a second, per stream it served."""

    TOPIC: ClassVar[str] = "stats"
    worker: str
    stream: str
    ts: float
    processed: int  # frames processed since the last stats message
    dropped: int  # frames announced but overwritten in the ring before a worker read them
    rejected: int  # malformed messages
    faces: int
    interval_s: float
    latency_ms: list[float] = field(default_factory=list)  # capture -> score, this interval


@dataclass
class ScoreEvent:
    """Worker -> supervisor: one temporal window of one track was scored."""

    TOPIC: ClassVar[str] = "score"
    stream: str
    track: int
    seq: int  # frame sequence number that closed the window
    frame_ts: float  # that frame's capture time
    ts: float  # when the score was published
    p_fake: float


@dataclass
class AlertEvent:
    """One step of an alert's lifecycle: new, then updates, then end.

    The alert id is a UUID made at `new`; every write keyed on it is idempotent.
    """

    TOPIC: ClassVar[str] = "alert"
    kind: Literal["new", "update", "end"]
    alert_id: str
    stream: str
    track: int
    ts: float  # when this event happened
    started_at: float
    ended_at: float | None
    score: float  # the window score that caused this event
    peak_score: float
    mean_score: float
    threshold: float
    model_id: str
    evidence: dict[str, str] = field(default_factory=dict)  # {"face": path, "frame": path, "clip": path}
    details: dict[str, Any] = field(default_factory=dict)
    frame_ts: float = 0.0  # capture time of the frame that caused this event


MESSAGE_TYPES: dict[str, type] = {t.TOPIC: t for t in (FrameReady, StreamState, WorkerStats, ScoreEvent, AlertEvent)}
Message = FrameReady | StreamState | WorkerStats | ScoreEvent | AlertEvent


def encode(msg: Message) -> bytes:
    return msg.TOPIC.encode() + b" " + json.dumps(asdict(msg), separators=(",", ":")).encode()


def to_dict(msg: Message) -> dict[str, Any]:
    """A JSON-ready dict with the message type under "type" (for `--no-console` output)."""
    return {"type": msg.TOPIC, **asdict(msg)}


def decode(frame: bytes) -> Message:
    if len(frame) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(frame)} bytes is over the limit")
    topic, sep, body = bytes(frame).partition(b" ")
    cls = MESSAGE_TYPES.get(topic.decode("ascii", "replace"))
    if cls is None or not sep:
        raise MessageError(f"unknown message topic {topic[:32]!r}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageError(f"{cls.TOPIC}: body is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MessageError(f"{cls.TOPIC}: body is not an object")
    names = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise MessageError(f"{cls.TOPIC}: unknown fields {sorted(unknown)}")
    try:
        msg = cls(**data)
    except TypeError as exc:
        raise MessageError(f"{cls.TOPIC}: {exc}") from None
    _check_types(msg)
    return msg


_SCALARS = {"int": int, "float": (int, float), "str": str}


def _check_types(msg: Message) -> None:
    """Reject a field of the wrong JSON type, so no worker trips over it later."""
    for f in fields(msg):
        value = getattr(msg, f.name)
        kind = str(f.type).split(" |")[0].split("[")[0]
        expected = _SCALARS.get(kind)
        if kind == "float" and "None" in str(f.type) and value is None:
            continue
        if expected and (not isinstance(value, expected) or isinstance(value, bool)):
            raise MessageError(f"{msg.TOPIC}.{f.name}: expected {kind}, got {type(value).__name__}")
        if kind in ("dict", "list") and not isinstance(value, dict if kind == "dict" else list):
            raise MessageError(f"{msg.TOPIC}.{f.name}: expected {kind}")
        items = value.values() if isinstance(value, dict) else value
        item = {"dict[str, str]": str, "list[float]": (int, float)}.get(str(f.type))
        if item and not all(isinstance(v, item) and not isinstance(v, bool) for v in items):
            raise MessageError(f"{msg.TOPIC}.{f.name}: expected {f.type}")
        if kind == "Literal" and value not in re.findall(r"""['"]([^'"]*)['"]""", f.type):
            raise MessageError(f"{msg.TOPIC}.{f.name}: unexpected value {value!r}")
    if isinstance(msg, FrameReady) and (msg.slot < 0 or msg.seq < 0 or msg.width <= 0 or msg.height <= 0):
        raise MessageError("frame: slot, seq, width and height must be positive")
