"""The supervisor's channels: events from every process, and the directory for workers on other hosts.

- Events (stream states, worker stats, scores, alerts): every process PUSHes
  to the supervisor's PULL. PUSH/PULL, not PUB/SUB: a PUB socket silently
  drops messages for a subscriber that is slow or not yet subscribed, and an
  alert must not be lost.
- Directory (tcp only): a REP socket that tells a remote worker where the
  streams are.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import replace

import zmq

from stream.transport import Endpoint, Endpoints, Security, TransportError, open_socket
from stream.wire import EVENTS, AlertEvent, Directory, Message, MessageError, decode, encode

ALERT_SEND_TIMEOUT_MS = 3000  # at close: how long kept alert events may wait for the supervisor
MAX_UNSENT = 10000  # alert events kept while the supervisor cannot take them (hours of alerts)
MAX_BATCH = 10000
log = logging.getLogger("dfd.events")


class EventSender:
    """Any process -> the supervisor. Nothing blocks: stats and scores the socket cannot take are
    dropped (the next ones supersede them); alert events are kept, in order, and sent again by
    `flush` (the worker calls it every loop) until the supervisor takes them.

    With `hold_s`, stats, scores and face boxes wait up to that long and leave together as one
    multipart message: each ZeroMQ send wakes its I/O thread and the supervisor, and a worker's score
    sends alone were 5 % of its CPU under 8 streams (README, performance). An alert never waits, and
    what was held goes out before it, so the supervisor sees every process's events in order.
    """

    def __init__(self, ctx: zmq.Context, endpoint: Endpoint, security: Security | None, hold_s: float = 0.0) -> None:
        self._sock = open_socket(
            ctx, zmq.PUSH, endpoint, security, bind=False, sndhwm=10000, linger=ALERT_SEND_TIMEOUT_MS
        )
        self._unsent: deque[bytes] = deque()  # alert events the socket has not taken yet
        self._full = False  # said that the kept alerts are at MAX_UNSENT
        self._hold_s = hold_s
        self._held: list[bytes] = []  # stats, scores and boxes waiting to leave together
        self._held_since = 0.0  # monotonic time of the oldest held message

    def send(self, msg: Message) -> bool:
        """False when the message is dropped: a stats or score message the socket cannot take now,
        or an alert event beyond MAX_UNSENT kept ones (said once on stderr)."""
        if not isinstance(msg, AlertEvent):
            if not self._held:
                self._held_since = time.monotonic()
            self._held.append(encode(msg))
            return self._send_held(due_only=True)
        if len(self._unsent) >= MAX_UNSENT:
            if not self._full:
                log.error("the supervisor has taken no alert event for a while; %d kept, dropping new ones", MAX_UNSENT)
            self._full = True
            return False
        self._unsent.append(encode(msg))
        self.flush()
        return True

    def _send_held(self, due_only: bool) -> bool:
        """Send the held messages as one; with `due_only`, only once the oldest has waited hold_s."""
        if not self._held or (due_only and time.monotonic() - self._held_since < self._hold_s):
            return True
        held, self._held = self._held, []
        try:
            self._sock.send_multipart(held, zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def flush(self, timeout_ms: int = 0) -> int:
        """Send what was held (once due, or before alert events) and the kept alert events, in order, waiting
        up to `timeout_ms` in all; returns how many alert events are left."""
        self._send_held(due_only=not self._unsent and not timeout_ms)
        deadline = time.monotonic() + timeout_ms / 1000
        while self._unsent:
            try:
                self._sock.send(self._unsent[0], zmq.NOBLOCK)
            except zmq.Again:
                left_ms = int((deadline - time.monotonic()) * 1000)
                if left_ms <= 0 or not self._sock.poll(left_ms, zmq.POLLOUT):
                    break
                continue
            self._unsent.popleft()
        self._full = self._full and bool(self._unsent)
        return len(self._unsent)

    def close(self) -> None:
        left = self.flush(ALERT_SEND_TIMEOUT_MS)
        if left:
            log.error("%d alert events could not be sent to the supervisor (it is gone or not reading)", left)
        self._sock.close()


class EventReceiver:
    """The supervisor's end: decodes, counts and skips what is malformed or not an event."""

    def __init__(self, ctx: zmq.Context, endpoint: Endpoint, security: Security | None) -> None:
        self._sock = open_socket(ctx, zmq.PULL, endpoint, security, bind=True, rcvhwm=100000)
        self.rejected = 0

    def recv(self, timeout_s: float) -> list[Message]:
        """Everything waiting, after at most `timeout_s` for the first message."""
        out: list[Message] = []
        if not self._sock.poll(int(timeout_s * 1000)):
            return out
        while len(out) < MAX_BATCH:
            try:
                parts = self._sock.recv_multipart(zmq.NOBLOCK)  # one event, or several sent together
            except zmq.Again:
                break
            self.rejected += max(0, len(parts) - MAX_BATCH)  # no worker groups this many: not ours
            for frame in parts[:MAX_BATCH]:
                try:
                    out.append(decode(frame, EVENTS))
                except MessageError:
                    self.rejected += 1
        return out

    def close(self) -> None:
        self._sock.close()


class DirectoryServer:
    """tcp only: answers a remote worker's request with the run's endpoints."""

    def __init__(self, ctx: zmq.Context, endpoints: Endpoints, security: Security | None, model_id: str) -> None:
        if endpoints.directory is None:
            raise TransportError("a directory needs tcp endpoints")
        self._sock = open_socket(ctx, zmq.REP, endpoints.directory, security, bind=True)
        frames = {s: str(ep) for s, ep in endpoints.frames.items()}
        self._reply = encode(Directory(str(endpoints.events), frames, model_id))

    def serve(self) -> None:
        """Answer every waiting request (called from the supervisor's loop)."""
        while self._sock.poll(0):
            self._sock.recv()
            self._sock.send(self._reply)

    def close(self) -> None:
        self._sock.close()


def fetch_directory(
    ctx: zmq.Context, host: str, port: int, security: Security | None, timeout_s: float = 10.0
) -> tuple[Endpoints, str]:
    """A remote worker asks the supervisor at host:port for the endpoints (its host substituted)."""
    sock = open_socket(ctx, zmq.REQ, Endpoint("tcp", host, port), security, bind=False)
    try:
        sock.send(b"directory")
        if not sock.poll(int(timeout_s * 1000)):
            raise TimeoutError(f"no answer from a dfd supervisor at {host}:{port} in {timeout_s:.0f} s")
        reply = decode(sock.recv(), (Directory,))
    finally:
        sock.close()

    def here(text: str) -> Endpoint:
        ep = Endpoint.parse(text)
        if ep.scheme != "tcp":
            raise TransportError(f"the supervisor at {host}:{port} gave a non-tcp endpoint {text!r}")
        return replace(ep, host=host)

    return Endpoints(here(reply.events), {s: here(ep) for s, ep in reply.frames.items()}), reply.model_id
