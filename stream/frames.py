"""The frame channel of one stream: the capture's ROUTER, the workers' DEALERs, credit-based.

Each worker serving the stream sends a credit ("ready") for every frame it
can take: CREDITS at start, then one for each frame it is done with. The
capture sends a frame only against a credit; without one it drops the frame
and counts it. So at most CREDITS frames of a stream wait for a worker (in
the ring), memory never grows, and a waiting frame is at most a frame or so
old. One credit was the freshest possible frame, but it dropped a frame
whenever a worker was kept off the core for a frame's time by the other
processes on it, with a third of the CPU idle. With ipc:// only the header
travels (the pixels are in the shared-memory ring); with tcp:// the frame
travels as a JPEG, so workers can run on other hosts.

A worker serving several streams takes them in turn, the one served longest
ago first, so no stream starves behind the others.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import zmq

from stream.ring import FrameRing, Image, RingSpec, image_array, image_size
from stream.transport import Endpoint, Security, open_socket
from stream.wire import FrameReady, MessageError, frame_parts, read_frame_parts

if TYPE_CHECKING:  # a capture sends PyAV's frames into the ring and loads no numpy
    import numpy as np

CREDIT = b"ready"
CREDITS = 3  # frames a worker may have per stream: the one it works on, and two that wait (a 67 ms stall at 30 fps)
CREDIT_REFRESH_S = 1.0  # a worker re-sends its credits when a stream has been silent this long


class FrameSender:
    """The capture's end of one stream: a frame goes out only against a worker's credit."""

    def __init__(
        self, ctx: zmq.Context, endpoint: Endpoint, security: Security | None, stream: str, ring: FrameRing | None
    ) -> None:
        self.stream = stream
        self.ring = ring  # None: the frame travels as a JPEG (tcp)
        self._sock = open_socket(ctx, zmq.ROUTER, endpoint, security, bind=True, router_mandatory=1, sndhwm=4)
        self._credits: OrderedDict[bytes, int] = OrderedDict()  # worker -> frames it can take; in turn
        self._seq = 0

    def _take_credits(self, wait_s: float = 0.0) -> None:
        timeout = int(wait_s * 1000)
        while self._sock.poll(timeout):
            timeout = 0
            parts = self._sock.recv_multipart()
            if len(parts) == 2 and parts[1] == CREDIT:  # capped: a re-sent credit must not grow the queue
                self._credits[parts[0]] = min(self._credits.get(parts[0], 0) + 1, CREDITS)

    def has_credit(self, wait_s: float = 0.0) -> bool:
        """Whether some worker can take a frame now (waiting up to `wait_s` for one)."""
        self._take_credits()
        if not self._credits and wait_s > 0:
            self._take_credits(wait_s)
        return bool(self._credits)

    def send(self, frame_bgr: Image, ts: float) -> bool:
        """Hand the frame to a free worker; False (the caller counts a drop) when none is free."""
        if not self.has_credit():
            return False
        w, h = image_size(frame_bgr)
        if self.ring is not None:
            slot, seq = self.ring.write(frame_bgr, ts)
            parts = frame_parts(FrameReady(self.stream, slot, seq, ts, w, h), None)
        else:
            seq, self._seq = self._seq, self._seq + 1
            parts = frame_parts(FrameReady(self.stream, 0, seq, ts, w, h), image_array(frame_bgr))
        while self._credits:
            identity, left = self._credits.popitem(last=False)
            if left > 1:
                self._credits[identity] = left - 1  # to the back: the next frame goes to the next worker
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
    """A worker's end: one DEALER per stream it serves, credit-based, streams served in turn."""

    def __init__(
        self,
        ctx: zmq.Context,
        frames: dict[str, Endpoint],
        security: Security | None,
        rings: dict[str, RingSpec] | None = None,
    ) -> None:
        self._rings_spec = rings or {}
        self._rings: dict[str, FrameRing] = {}
        self._socks = {s: open_socket(ctx, zmq.DEALER, ep, security, bind=False) for s, ep in frames.items()}
        self._stream_of = {sock: s for s, sock in self._socks.items()}
        self._turn = list(self._socks)  # the stream served longest ago first
        self._poller = zmq.Poller()
        for sock in self._socks.values():
            self._poller.register(sock, zmq.POLLIN)
        self._last_credit: dict[str, float] = {}
        self.counters = ReceiverCounters({s: 0 for s in frames})
        for s in self._socks:
            self.ready(s, CREDITS)

    def ready(self, stream: str, credits: int = 1) -> None:
        """Give the stream's capture `credits` credits: this worker is done with a frame (or starts)."""
        try:
            for _ in range(credits):
                self._socks[stream].send(CREDIT, zmq.NOBLOCK)
        except zmq.Again:
            pass
        self._last_credit[stream] = time.monotonic()

    def _refresh_credits(self) -> None:
        """Credits can be lost (the capture restarted): re-send them all on a silent stream (the capture caps them)."""
        now = time.monotonic()
        for s, t in self._last_credit.items():
            if now - t > CREDIT_REFRESH_S:
                self.ready(s, CREDITS)

    def recv(self, timeout_s: float, skip: frozenset[str] = frozenset()) -> Frame | None:
        """The next frame, from the waiting stream served longest ago (not one in `skip`), or None after `timeout_s`.

        `skip` is for gathering a batch with `timeout_s` 0: a skipped stream's waiting frame would wake the
        poll at once, so a longer wait with `skip` would spin.

        Malformed messages and overwritten frames are counted, skipped and re-credited.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            self._refresh_credits()
            left = deadline - time.monotonic()
            waiting = {self._stream_of[sock] for sock, _ in self._poller.poll(max(0, int(left * 1000)))} - skip
            for stream in [s for s in self._turn if s in waiting]:
                self._turn.remove(stream)
                self._turn.append(stream)
                frame = self._take(stream, self._socks[stream].recv_multipart())
                if frame is not None:
                    return frame
                self.ready(stream)
            if time.monotonic() >= deadline:
                return None

    def recv_batch(self, timeout_s: float, most: int) -> list[Frame]:
        """The next frame (as `recv`), and the frames of other streams already waiting, up to `most`.

        Nothing waits for a batch to fill: a lone stream's frame goes alone.
        """
        batch: list[Frame] = []
        frame = self.recv(timeout_s)
        while frame is not None:
            batch.append(frame)
            if len(batch) >= most:
                break
            frame = self.recv(0.0, frozenset(f.header.stream for f in batch))
        return batch

    def _take(self, stream: str, parts: list[bytes]) -> Frame | None:
        try:
            header, image = read_frame_parts(parts)
            if header.stream != stream:
                raise MessageError(f"frame of {header.stream!r} on the socket of {stream!r}")
        except MessageError:
            self.counters.rejected += 1
            return None
        if image is not None:
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
