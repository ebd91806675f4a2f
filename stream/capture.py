"""Capture: decode, stamp, put in the ring, offer to a worker; one thread per source.

A capture process reads up to stream.streams_per_capture sources, each in its
own thread (PyAV decodes and converts with the GIL released): the streams
share one process's libraries, about 70 MiB that a process per source would
repeat (bench/results/capacity-capture-threads-*). A stream's errors stay in
its thread; an unexpected exception ends the whole process, which the
supervisor restarts with all its streams.

A lost stream is reopened with exponential backoff and jitter; a source that
can never open (a missing file) goes offline with one line. A process exits
2 when every one of its sources is unusable and 0 when each ended or is
unusable, so the supervisor does not restart it. The state and the counters
go to the supervisor once a second and on every change.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Iterator

import zmq

from edge_model.media import Opening, VideoError
from stream.capture_spec import EXIT_ENDED, EXIT_UNUSABLE, CaptureSpec
from stream.events import EventSender
from stream.frames import FrameSender
from stream.heap import keep_frame_buffers
from stream.lifeline import die_with_parent, private_files
from stream.logs import install_logging
from stream.ring import FrameRing, Image
from stream.sources import fit_within, read_frames
from stream.transport import Security
from stream.wire import StreamState

HEARTBEAT_S = 1.0
EXIT_CRASHED = 1  # a stream's thread raised: the process ends, and the supervisor restarts its streams

log = logging.getLogger(__name__)


def backoff_s(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: somewhere in [d/2, d], d = min(cap, base * 2**attempt)."""
    d = min(cap, base * 2.0 ** min(attempt, 30))
    return d / 2 + rng.uniform(0, d / 2)


class Capture:
    def __init__(self, spec: CaptureSpec, ctx: zmq.Context, security: Security | None) -> None:
        self.spec = spec
        self.name = spec.source.name
        self.started_at = time.time()  # the counters below count from here
        self.ring = FrameRing.attach(spec.ring) if spec.ring else None
        self.frames = FrameSender(ctx, spec.frames_endpoint, security, self.name, self.ring)
        self.events = EventSender(ctx, spec.events_endpoint, security)
        self.state = "starting"
        self.error = ""
        self.reconnects = 0
        self.captured = 0
        self.dropped = 0
        self.stopping = False
        self._last_beat = 0.0

    def report(self, state: str | None = None, error: str | None = None) -> None:
        changed = (state is not None and state != self.state) or (error is not None and error != self.error)
        self.state = state or self.state
        self.error = self.error if error is None else error
        now = time.time()
        if changed or now - self._last_beat >= HEARTBEAT_S:
            self._last_beat = now
            self.events.send(StreamState(
                self.name, self.state, now, self.started_at, self.reconnects, self.captured, self.dropped, self.error
            ))

    def _frames(self, opening: Opening) -> Iterator[Image]:
        s = self.spec
        if s.source.kind == "demo":
            from stream.demo import FPS, demo_frames

            return demo_frames(s.source.url.split("://", 1)[1], fps=s.settings.sample_fps or FPS)
        fit = fit_within(s.settings.max_width, s.settings.max_height)
        return read_frames(s.source, fit, s.settings.realtime, s.settings.stall_timeout_s, opening, s.settings.sample_fps)

    def _offer(self, frame: Image) -> None:
        ts = time.time()
        self.captured += 1
        if not self.spec.settings.realtime and self.spec.source.kind == "file":
            while not self.stopping and not self.frames.has_credit(wait_s=0.2):  # every frame, in turn
                self.report()
        if not self.frames.send(frame, ts):
            self.dropped += 1

    def run(self) -> int:
        rng = random.Random()
        attempt = 0
        source = self.spec.source
        self.report("starting")
        while not self.stopping:
            opening = Opening()  # a file served over http ends like a local one; a live feed is reopened
            try:
                for frame in self._frames(opening):
                    if self.state != "online":
                        attempt = 0
                        self.report("online", "")
                    self._offer(frame)
                    self.report()
                    if self.stopping:
                        break
            except VideoError as exc:
                if not source.live:
                    self.report("offline", str(exc))
                    return EXIT_UNUSABLE
                self.error = str(exc)
                ended = False
            else:
                ended = not source.live or opening.finite  # a file ran to its end; a live feed was cut
                self.error = "" if ended else f"{source.shown}: stream ended"
            if self.stopping:
                break
            if ended and not self.spec.settings.loop:
                self.report("ended")
                return EXIT_ENDED
            if not ended:
                self.reconnects += 1
                wait = backoff_s(attempt, self.spec.settings.reconnect_base_s, self.spec.settings.reconnect_max_s, rng)
                attempt += 1
                self.report("reconnecting", self.error)
                self._sleep(wait)
        self.report("offline")
        return 0

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.2, end - time.monotonic()))
            self.report()

    def close(self) -> None:
        self.frames.close()
        self.events.close()
        if self.ring:
            self.ring.close()


def group_exit(codes: list[int]) -> int:
    """The process's exit code from its streams' run() codes: unusable only when every source is."""
    return EXIT_UNUSABLE if codes and all(c == EXIT_UNUSABLE for c in codes) else EXIT_ENDED


def run_threads(captures: list[Capture]) -> int:
    """Run each capture in its own thread until all end; the first to raise stops the others, and the
    process's code is EXIT_CRASHED."""
    codes: dict[str, int] = {}
    crashed = threading.Event()

    def serve(capture: Capture) -> None:
        try:
            codes[capture.name] = capture.run()
        except Exception:  # noqa: BLE001 (any bug: say which stream, then restart the process)
            log.exception("%s: capture failed", capture.name)
            crashed.set()

    threads = [threading.Thread(target=serve, args=(c,), name=f"capture-{c.name}", daemon=True) for c in captures]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if crashed.wait(0.2):  # the main thread waits here, so SIGTERM's handler still runs
            break
    if crashed.is_set():
        for c in captures:
            c.stopping = True  # their threads are daemons: the caller need not wait for them
        return EXIT_CRASHED
    return group_exit(list(codes.values()))


def run_captures(specs: list[CaptureSpec]) -> None:
    """Process entry point. Ctrl-C goes to the supervisor; SIGTERM stops every capture of this process."""
    die_with_parent()
    private_files()
    keep_frame_buffers()
    install_logging(prefix=f"dfd watch: {', '.join(s.source.name for s in specs)}")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ctx = zmq.Context()
    security = Security(ctx, specs[0].curve) if specs[0].curve else None
    captures = [Capture(spec, ctx, security) for spec in specs]

    def stop(*_: object) -> None:
        for capture in captures:
            capture.stopping = True

    signal.signal(signal.SIGTERM, stop)
    code = run_threads(captures)
    if code == EXIT_CRASHED:  # a thread may still hold its sockets: no orderly close
        sys.stderr.flush()
        os._exit(code)
    for capture in captures:
        capture.close()
    if security:
        security.close()
    ctx.term()
    sys.exit(code)
