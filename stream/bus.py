"""Thin typed wrappers over ZeroMQ: every socket of `dfd watch` is made here.

- Frames, per stream: the capture binds a ROUTER, each worker serving the
  stream connects a DEALER and sends a credit ("ready") when it can take a
  frame. The capture sends a frame only against a credit; without one it drops
  the frame and counts it. So nothing queues anywhere and memory never grows,
  and a worker always gets the freshest frame. With `ipc` only the header
  travels (the pixels are in the shared-memory ring); with `tcp` the frame
  travels as a JPEG, so workers can run on other hosts.
- Events (stream states, worker stats, scores, alerts): every process PUSHes
  to the supervisor's PULL. PUSH/PULL, not PUB/SUB: a PUB socket silently drops
  messages for a subscriber that is slow or not yet subscribed, and an alert
  must not be lost.
- Directory (tcp only): a REP socket that tells a remote worker where the
  streams are.

All sockets come from `_socket`, the one place where transport security
(CURVE keys) will be added.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import zmq

from stream.curve import secure
from stream.messages import AlertEvent, FrameReady, Message, MessageError, decode, encode
from stream.ring import FrameRing, RingSpec

CREDIT = b"ready"
CREDIT_REFRESH_S = 1.0  # a worker re-sends its credit when a stream has been silent this long
JPEG_QUALITY = 85
ALERT_SEND_TIMEOUT_MS = 3000


@dataclass(frozen=True)
class Endpoints:
    """Where every socket of one run binds or connects."""

    events: str
    frames: dict[str, str]  # stream name -> endpoint
    directory: str = ""  # tcp only

    @property
    def transport(self) -> str:
        return self.events.split("://", 1)[0]


def ipc_endpoints(run_dir: str | Path, streams: list[str]) -> Endpoints:
    """Unix sockets in the run's private directory (mode 0700)."""
    d = Path(run_dir)
    return Endpoints(f"ipc://{d / 'events'}", {s: f"ipc://{d / f'frames-{i}'}" for i, s in enumerate(streams)})


def tcp_endpoints(bind: str, port: int, streams: list[str]) -> Endpoints:
    """Directory on `port`, events on port+1, stream i on port+2+i."""
    return Endpoints(
        f"tcp://{bind}:{port + 1}",
        {s: f"tcp://{bind}:{port + 2 + i}" for i, s in enumerate(streams)},
        directory=f"tcp://{bind}:{port}",
    )


def _socket(ctx: zmq.Context, kind: int, endpoint: str, bind: bool, **options: int) -> zmq.Socket:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, options.pop("linger", 0))
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name.upper()), value)
    secure(ctx, sock, endpoint, bind)
    if bind:
        sock.bind(endpoint)
    else:
        sock.connect(endpoint)
    return sock


class EventSender:
    """Any process -> the supervisor. Stats and scores never block; an alert waits a little."""

    def __init__(self, ctx: zmq.Context, endpoint: str) -> None:
        self._sock = _socket(ctx, zmq.PUSH, endpoint, bind=False, sndhwm=10000, linger=ALERT_SEND_TIMEOUT_MS)
        self.dropped = 0

    def send(self, msg: Message) -> bool:
        reliable = isinstance(msg, AlertEvent)
        try:
            if reliable and not self._sock.poll(ALERT_SEND_TIMEOUT_MS, zmq.POLLOUT):
                raise zmq.Again()
            self._sock.send(encode(msg), zmq.NOBLOCK)
            return True
        except zmq.Again:
            self.dropped += 1
            return False

    def close(self) -> None:
        self._sock.close()


class EventReceiver:
    """The supervisor's end: decodes, counts and skips what is malformed."""

    def __init__(self, ctx: zmq.Context, endpoint: str) -> None:
        self._sock = _socket(ctx, zmq.PULL, endpoint, bind=True, rcvhwm=100000)
        self.rejected = 0

    def recv(self, timeout_s: float) -> list[Message]:
        """Everything waiting, after at most `timeout_s` for the first message."""
        out: list[Message] = []
        if not self._sock.poll(int(timeout_s * 1000)):
            return out
        while True:
            try:
                frame = self._sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return out
            try:
                out.append(decode(frame))
            except MessageError:
                self.rejected += 1
            if len(out) >= 10000:
                return out

    def close(self) -> None:
        self._sock.close()


class FrameSender:
    """The capture's end of one stream: a frame goes out only against a worker's credit."""

    def __init__(self, ctx: zmq.Context, stream: str, endpoint: str, ring: FrameRing | None) -> None:
        self.stream = stream
        self.ring = ring  # None: the frame travels as a JPEG (tcp)
        self._sock = _socket(ctx, zmq.ROUTER, endpoint, bind=True, router_mandatory=1, sndhwm=4)
        self._ready: OrderedDict[bytes, None] = OrderedDict()
        self._seq = 0

    def _take_credits(self, wait_s: float = 0.0) -> None:
        timeout = int(wait_s * 1000)
        while self._sock.poll(timeout):
            timeout = 0
            parts = self._sock.recv_multipart()
            if len(parts) == 2 and parts[1] == CREDIT:
                self._ready[parts[0]] = None

    def has_credit(self, wait_s: float = 0.0) -> bool:
        """Whether some worker can take a frame now (waiting up to `wait_s` for one)."""
        self._take_credits()
        if not self._ready and wait_s > 0:
            self._take_credits(wait_s)
        return bool(self._ready)

    def send(self, frame_bgr: np.ndarray, ts: float) -> bool:
        """Hand the frame to a free worker; False (the caller counts a drop) when none is free."""
        if not self.has_credit():
            return False
        h, w = frame_bgr.shape[:2]
        if self.ring is not None:
            slot, seq = self.ring.write(frame_bgr, ts)
            parts = [encode(FrameReady(self.stream, slot, seq, ts, w, h))]
        else:
            seq, self._seq = self._seq, self._seq + 1
            ok, jpeg = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            parts = [encode(FrameReady(self.stream, 0, seq, ts, w, h)), jpeg.tobytes()]
        while self._ready:
            identity, _ = self._ready.popitem(last=False)
            try:
                self._sock.send_multipart([identity, *parts], zmq.NOBLOCK)
                return True
            except (zmq.Again, zmq.ZMQError):  # that worker is gone (EHOSTUNREACH) or full
                continue
        return False

    def close(self) -> None:
        self._sock.close()


@dataclass
class Frame:
    header: FrameReady
    image: np.ndarray  # BGR


@dataclass
class ReceiverCounters:
    skipped: dict[str, int] = field(default_factory=dict)  # overwritten in the ring before it was read
    rejected: int = 0  # malformed messages


class FrameReceiver:
    """A worker's end: one DEALER per stream it serves, credit-based."""

    def __init__(self, ctx: zmq.Context, frames: dict[str, str], rings: dict[str, RingSpec] | None = None) -> None:
        self._rings_spec = rings or {}
        self._rings: dict[str, FrameRing] = {}
        self._socks = {s: _socket(ctx, zmq.DEALER, ep, bind=False) for s, ep in frames.items()}
        self._stream_of = {sock: s for s, sock in self._socks.items()}
        self._poller = zmq.Poller()
        for sock in self._socks.values():
            self._poller.register(sock, zmq.POLLIN)
        self._last_credit: dict[str, float] = {}
        self.counters = ReceiverCounters({s: 0 for s in frames})
        for s in self._socks:
            self.ready(s)

    def ready(self, stream: str) -> None:
        """Give the stream's capture a credit: this worker can take its next frame."""
        try:
            self._socks[stream].send(CREDIT, zmq.NOBLOCK)
        except zmq.Again:
            pass
        self._last_credit[stream] = time.monotonic()

    def _refresh_credits(self) -> None:
        """A credit can be lost (the capture restarted): re-send it on a silent stream."""
        now = time.monotonic()
        for s, t in self._last_credit.items():
            if now - t > CREDIT_REFRESH_S:
                self.ready(s)

    def recv(self, timeout_s: float) -> Frame | None:
        """The next frame of any stream, or None after `timeout_s`.

        Malformed messages and overwritten frames are counted, skipped and re-credited.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            self._refresh_credits()
            left = deadline - time.monotonic()
            events = dict(self._poller.poll(max(0, int(left * 1000))))
            for sock in events:
                stream = self._stream_of[sock]
                frame = self._take(stream, sock.recv_multipart())
                if frame is not None:
                    return frame
                self.ready(stream)
            if time.monotonic() >= deadline:
                return None

    def _take(self, stream: str, parts: list[bytes]) -> Frame | None:
        try:
            header = decode(parts[0])
            if not isinstance(header, FrameReady) or header.stream != stream or len(parts) > 2:
                raise MessageError("not a frame of this stream")
        except MessageError:
            self.counters.rejected += 1
            return None
        if len(parts) == 2:
            try:
                image = cv2.imdecode(np.frombuffer(parts[1], np.uint8), cv2.IMREAD_COLOR)
            except cv2.error:  # an empty payload asserts instead of returning None
                image = None
            if image is None or image.shape[:2] != (header.height, header.width):
                self.counters.rejected += 1
                return None
            return Frame(header, image)
        ring = self._ring(stream)
        image = ring.read(header.slot, header.seq) if ring is not None else None
        if image is None:
            self.counters.skipped[stream] += 1
            return None
        return Frame(header, image)

    def _ring(self, stream: str) -> FrameRing | None:
        if stream not in self._rings and stream in self._rings_spec:
            try:
                self._rings[stream] = FrameRing.attach(self._rings_spec[stream])
            except (FileNotFoundError, ValueError):
                return None
        return self._rings.get(stream)

    def close(self) -> None:
        for sock in self._socks.values():
            sock.close()
        for ring in self._rings.values():
            ring.close()


class DirectoryServer:
    """tcp only: answers a remote worker's request with the run's endpoints."""

    def __init__(self, ctx: zmq.Context, endpoints: Endpoints, model_id: str) -> None:
        self._sock = _socket(ctx, zmq.REP, endpoints.directory, bind=True)
        self._reply = json.dumps(
            {"events": endpoints.events, "frames": endpoints.frames, "model_id": model_id}
        ).encode()

    def serve(self) -> None:
        """Answer every waiting request (called from the supervisor's loop)."""
        while self._sock.poll(0):
            self._sock.recv()
            self._sock.send(self._reply)

    def close(self) -> None:
        self._sock.close()


def fetch_directory(ctx: zmq.Context, host: str, port: int, timeout_s: float = 10.0) -> tuple[Endpoints, str]:
    """A remote worker asks the supervisor at host:port for the endpoints (host substituted)."""
    sock = _socket(ctx, zmq.REQ, f"tcp://{host}:{port}", bind=False)
    try:
        sock.send(b"directory")
        if not sock.poll(int(timeout_s * 1000)):
            raise TimeoutError(f"no answer from a dfd supervisor at {host}:{port} in {timeout_s:.0f} s")
        reply = json.loads(sock.recv())
    finally:
        sock.close()

    def here(ep: str) -> str:
        return f"tcp://{host}:{ep.rsplit(':', 1)[1]}"

    return Endpoints(here(reply["events"]), {s: here(ep) for s, ep in reply["frames"].items()}), reply["model_id"]
