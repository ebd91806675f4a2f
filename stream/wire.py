"""Every message that crosses a ZeroMQ socket, and the one place that turns it into bytes and back.

A message is one frame: a topic, a space, then compact JSON. Decoding is
pydantic's, strict: a string where a number belongs, a bool for an int, an
unknown field or a value outside a Literal is refused. Whatever does not
decode into the expected message raises `MessageError`; receivers count it
and skip it, they never crash on it. A worker's one message in, the frame
header, is checked by hand to the same rules (`decode_frame_ready`), so that
workers never load pydantic.

A frame travels as its `FrameReady` header alone (the pixels are in the
shared-memory ring) or as the header and a JPEG (tcp, for workers on other
hosts): `frame_parts` and `read_frame_parts` are that codec.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from annotated_types import Ge, Gt

from edge_model.errors import DfdError

if TYPE_CHECKING:  # annotations only: the supervisor decodes messages without numpy
    import numpy as np

MAX_MESSAGE_BYTES = 1 << 20
JPEG_QUALITY = 85
Count = Annotated[int, Ge(0)]


def _strict(cls: type) -> type:
    """pydantic's config for a plain dataclass, set without importing pydantic: a capture only encodes."""
    cls.__pydantic_config__ = {"strict": True, "extra": "forbid"}
    return cls


class MessageError(DfdError):
    """A malformed, unknown or unexpected message."""


@_strict
@dataclass
class FrameReady:
    """Capture -> workers: a frame is ready (in the ring, or as the JPEG that follows)."""

    TOPIC: ClassVar[str] = "frame"
    stream: str
    slot: Count
    seq: Count
    ts: float  # capture time, time.time()
    width: Annotated[int, Gt(0)]
    height: Annotated[int, Gt(0)]


@_strict
@dataclass
class StreamState:
    """Capture -> supervisor: online / reconnecting / offline, and its counters since it started."""

    TOPIC: ClassVar[str] = "state"
    stream: str
    state: Literal["starting", "online", "reconnecting", "offline", "ended"]
    ts: float
    started_at: float  # time.time() when this capture process started: its counters count from there
    reconnects: Count = 0
    captured: Count = 0  # frames decoded since started_at
    dropped: Count = 0  # of those, frames no worker could take
    error: str = ""  # masked


@_strict
@dataclass
class WorkerStats:
    """Worker -> supervisor, about once a second, per stream it serves: counters since it started."""

    TOPIC: ClassVar[str] = "stats"
    worker: str
    stream: str
    ts: float
    started_at: float  # time.time() when this worker process started: its counters count from there
    processed: Count  # frames of this stream processed since started_at
    dropped: Count  # frames of this stream overwritten in the ring before this worker read them
    rejected: Count  # malformed messages this worker received (all its streams together)
    faces: Count  # faces in this stream's last processed frame
    latency_ms: list[float] = field(default_factory=list)  # capture -> score, since the last report
    faces_seen: Count = 0  # faces in the frames of this stream processed since started_at
    stage_ms: dict[str, list[float]] = field(default_factory=dict)  # detect/encode/score per frame, since the last report


@_strict
@dataclass
class ScoreEvent:
    """Worker -> supervisor: one temporal window of one track was scored."""

    TOPIC: ClassVar[str] = "score"
    stream: str
    track: int
    seq: int  # frame sequence number that closed the window
    frame_ts: float  # that frame's capture time
    ts: float  # when the worker scored it (scores leave in groups, about stream.worker.EVENTS_HOLD_S later)
    p_fake: float


@_strict
@dataclass
class FaceBoxes:
    """Worker -> supervisor, a few times a second per stream: where the faces are, for the web page's live view."""

    TOPIC: ClassVar[str] = "boxes"
    stream: str
    seq: Count  # the frame they were found on
    ts: float  # its capture time
    boxes: list[tuple[float, float, float, float, int, float]]  # x1 y1 x2 y2 track p_fake (-1: not scored yet)


@_strict
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


@_strict
@dataclass
class Directory:
    """Supervisor -> a worker on another host: where the run's sockets are, and its model."""

    TOPIC: ClassVar[str] = "directory"
    events: str  # endpoint, as the supervisor bound it
    frames: dict[str, str]  # stream name -> endpoint
    model_id: str


Message = FrameReady | StreamState | WorkerStats | ScoreEvent | FaceBoxes | AlertEvent | Directory
EVENTS: tuple[type, ...] = (StreamState, WorkerStats, ScoreEvent, FaceBoxes, AlertEvent)  # what goes to the supervisor
MESSAGE_TYPES: dict[str, type] = {t.TOPIC: t for t in (FrameReady, *EVENTS, Directory)}


@cache
def _adapter(cls: type):
    """pydantic and a message's schema load with the first message decoded: a capture, which only encodes, never
    loads them."""
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


def encode(msg: Message) -> bytes:
    """The fields as they are (no message nests another): dataclasses.asdict deep-copies, and was most of
    the supervisor's `--no-console` time and a share of every frame's header."""
    return msg.TOPIC.encode() + b" " + json.dumps(vars(msg), separators=(",", ":")).encode()


def to_dict(msg: Message) -> dict[str, Any]:
    """A JSON-ready dict with the message type under "type" (for `--no-console` output)."""
    return {"type": msg.TOPIC, **vars(msg)}


def _topic_and_body(frame: bytes, expected: Iterable[type] | None) -> tuple[type, bytes]:
    """The message type `frame` names and its JSON body; MessageError when it is too long, unknown or unexpected."""
    if len(frame) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(frame)} bytes is over the limit")
    topic_bytes, sep, body = bytes(frame).partition(b" ")
    cls = MESSAGE_TYPES.get(topic_bytes.decode("ascii", "replace"))
    if cls is None or not sep:
        raise MessageError(f"unknown message topic {topic_bytes[:32]!r}")
    if expected is not None and cls not in tuple(expected):
        raise MessageError(f"unexpected {cls.TOPIC} message here")
    return cls, body


def decode(frame: bytes, expected: Iterable[type] | None = None) -> Message:
    """The message in `frame`; MessageError when it is malformed or not one of `expected`."""
    cls, body = _topic_and_body(frame, expected)
    topic = cls.TOPIC
    from pydantic import ValidationError

    try:
        return _adapter(cls).validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MessageError(f"{topic}{'.' + where if where else ''}: {first['msg']}".replace("\n", " ")) from None


def _text(v: Any) -> bool:
    if type(v) is not str:
        return False
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escape ("\\ud800"), which pydantic's JSON parser refuses
        return False
    return True


def _count(least: int) -> Callable[[Any], bool]:
    return lambda v: type(v) is int and v >= least  # a bool is not an int here, as in pydantic's strict mode


# FrameReady's fields in order: what each must be, and the check (as strict as pydantic's for the field's type).
FRAME_READY_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "stream": ("a string", _text),
    "slot": ("an integer >= 0", _count(0)),
    "seq": ("an integer >= 0", _count(0)),
    "ts": ("a finite number", lambda v: type(v) in (int, float) and abs(v) <= sys.float_info.max),
    "width": ("an integer >= 1", _count(1)),
    "height": ("an integer >= 1", _count(1)),
}


def decode_frame_ready(frame: bytes) -> FrameReady:
    """`decode(frame, (FrameReady,))` checked by hand, at least as strictly: a worker decodes one of these a frame
    and no other message, so pydantic and the schemas (about 10 MiB) stay out of it.
    tests/test_fuzz_wire.py holds the two decoders to the same answers."""
    _, text = _topic_and_body(frame, (FrameReady,))
    topic = FrameReady.TOPIC
    try:
        body = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MessageError(f"{topic}: not UTF-8 JSON") from None
    if not isinstance(body, dict):
        raise MessageError(f"{topic}: not a JSON object")
    extra = body.keys() - FRAME_READY_FIELDS.keys()
    if extra:
        raise MessageError(f"{topic}.{sorted(extra)[0]}: Extra inputs are not permitted")
    for name, (what, ok) in FRAME_READY_FIELDS.items():
        if name not in body:
            raise MessageError(f"{topic}.{name}: Field required")
        if not ok(body[name]):
            raise MessageError(f"{topic}.{name}: must be {what}, not {str(body[name])[:32]!r}")
    body["ts"] = float(body["ts"])  # an integer time, as pydantic's float field takes it
    return FrameReady(**body)


def frame_parts(header: FrameReady, image: np.ndarray | None) -> list[bytes]:
    """A frame as it travels: the header alone (pixels in the ring), or the header and a JPEG of `image`."""
    if image is None:
        return [encode(header)]
    import cv2  # only frames sent over tcp:// are JPEGs: an ipc capture never loads OpenCV

    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise MessageError(f"frame {header.stream}/{header.seq}: JPEG encoding failed")
    return [encode(header), jpeg.tobytes()]


def read_frame_parts(parts: list[bytes]) -> tuple[FrameReady, np.ndarray | None]:
    """The header and, when a JPEG came with it, the BGR image; MessageError for anything else."""
    if not 1 <= len(parts) <= 2:
        raise MessageError(f"frame: {len(parts)} parts, expected a header and at most one image")
    header = decode_frame_ready(parts[0])
    if len(parts) == 1:
        return header, None
    import cv2  # as in frame_parts
    import numpy as np

    try:
        image = cv2.imdecode(np.frombuffer(parts[1], np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:  # an empty payload asserts instead of returning None
        image = None
    if image is None or image.shape[:2] != (header.height, header.width):
        size = f"{header.width}x{header.height}"
        raise MessageError(f"frame {header.stream}/{header.seq}: the image is not a {size} JPEG")
    return header, image
