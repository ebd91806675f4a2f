"""The process table of `dfd watch`: start each child, restart a crashed or stalled one, give up wisely.

A long-running service meets a few crashes a month, so the restart budget is
a sliding window (stream.max_restarts in stream.restart_window_s), not a
lifetime count. A stall kill (a live camera silent for stall_timeout_s, or a
worker that sent no stats for as long: hung, not dead) is a recovery,
counted apart, never against the budget. A capture out of budget
goes offline and is tried again after stream.offline_retry_s (cameras come
back); a worker out of budget is given up, and when every worker is given up
the run has failed, so `dfd watch` exits non-zero and a service manager can
restart it.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from stream.capture_spec import EXIT_ENDED, EXIT_UNUSABLE
from stream.config import StreamSection

Kind = Literal["capture", "worker"]


@dataclass
class Child:
    """One supervised process and how to start it again."""

    name: str
    kind: Kind
    target: Callable[[Any], None]
    spec: Any
    streams: list[str] = field(default_factory=list)  # the streams it captures or scores
    proc: Any = None
    restarts: int = 0  # every restart: crashes and stalls
    stalls: int = 0
    crashes: deque = field(default_factory=deque)  # monotonic times of the crashes in the budget's window
    retry_at: float | None = None  # out of budget (a capture): started again at this time
    outcome: str = ""  # why it is done: "ended", "unusable", "gave up"
    started: float = 0.0  # monotonic time of the last start
    heard: float | None = None  # monotonic time of its last report since that start (workers)

    @property
    def done(self) -> bool:
        return bool(self.outcome)

    def start(self, ctx: Any, now: float) -> None:
        self.started, self.heard = now, None
        self.proc = ctx.Process(target=self.target, args=(self.spec,), name=f"dfd-{self.name}", daemon=True)
        self.proc.start()


class ProcessTable:
    """Every child of one run. `check` is called from the supervisor's loop."""

    def __init__(
        self, settings: StreamSection, launcher: Any, notice: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.children: list[Child] = []
        self._launcher = launcher  # stream.launch.Launcher (or a test fake): Process(target=, args=, name=, daemon=)
        self.notice = notice
        self._clock = clock

    def add(self, name: str, kind: Kind, target: Callable[[Any], None], spec: Any, streams: list[str]) -> None:
        self.children.append(Child(name, kind, target, spec, list(streams)))

    def start(self) -> None:
        for child in self.children:
            child.start(self._launcher, self._clock())

    def of_kind(self, kind: Kind) -> list[Child]:
        return [c for c in self.children if c.kind == kind]

    def heard_from(self, name: str, now: float) -> None:
        """A worker's stats arrived: it is making progress (it reports every second, busy or idle)."""
        for child in self.children:
            if child.name == name:
                child.heard = now

    def _silent(self, child: Child, now: float) -> str:
        """Why a worker counts as hung, or "": no report for stall_timeout_s (3x before its first one,
        while it loads its model)."""
        limit = self.settings.stall_timeout_s * (1 if child.heard is not None else 3)
        silent = now - (child.heard if child.heard is not None else child.started)
        return f"no stats for {silent:.0f} s" if silent > limit else ""

    def check(self, stalled: Callable[[Child, float], str]) -> None:
        """Restart what crashed or stalled; `stalled(child, now)` says why a capture counts as stalled, or ""."""
        now = self._clock()
        for child in self.children:
            if child.done:
                continue
            if child.retry_at is not None:
                if now >= child.retry_at:
                    child.retry_at = None
                    self.notice(f"{child.kind} {child.name}: trying again")
                    child.start(self._launcher, now)
                continue
            code = child.proc.exitcode
            if code is None:
                reason = self._silent(child, now) if child.kind == "worker" else stalled(child, now)
                if reason:
                    self.notice(f"{child.kind} {child.name}: {reason}, restarting it")
                    child.proc.kill()
                    child.proc.join(2)
                    child.stalls += 1
                    child.restarts += 1
                    child.start(self._launcher, now)
                continue
            self._exited(child, code, now)

    def _exited(self, child: Child, code: int, now: float) -> None:
        if code == EXIT_UNUSABLE:
            child.outcome = "unusable"
            if child.kind == "worker":
                self.notice(f"worker {child.name} cannot run; see the line above")
            return
        if child.kind == "capture" and code == EXIT_ENDED:
            child.outcome = "ended"
            return
        window = self.settings.restart_window_s
        child.crashes.append(now)
        while child.crashes and now - child.crashes[0] > window:
            child.crashes.popleft()
        budget = self.settings.max_restarts
        if len(child.crashes) > budget:
            if child.kind == "capture":
                child.retry_at = now + self.settings.offline_retry_s
                self.notice(
                    f"capture {child.name} exited ({exit_text(code)}); {len(child.crashes)} crashes in "
                    f"{window:.0f} s, offline, trying again in {self.settings.offline_retry_s:.0f} s"
                )
            else:
                child.outcome = "gave up"
                self.notice(f"worker {child.name} exited ({exit_text(code)}); out of restarts, giving up")
            return
        child.restarts += 1
        self.notice(
            f"{child.kind} {child.name} exited ({exit_text(code)}); "
            f"restart ({len(child.crashes)} of {budget} in {window:.0f} s)"
        )
        child.start(self._launcher, now)

    def finished(self) -> bool:
        """Every capture done for good (files ended, sources unusable), or every worker."""
        return all(c.done for c in self.of_kind("capture")) or all(c.done for c in self.of_kind("worker"))

    def failed(self) -> bool:
        """Every worker given up or unable to run: nothing can be scored any more."""
        workers = self.of_kind("worker")
        return bool(workers) and all(c.outcome in ("gave up", "unusable") for c in workers)

    def stop(self, grace_s: float, drain: Callable[[], None]) -> None:
        """SIGTERM every child, `drain` their last events until they end or `grace_s` passes, then SIGKILL."""
        for child in self.children:
            if child.proc is not None and child.proc.exitcode is None:
                child.proc.terminate()
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(c.proc.is_alive() for c in self.children if c.proc):
            drain()
        for child in self.children:
            if child.proc is not None and child.proc.is_alive():
                child.proc.kill()
                child.proc.join(1)

    def stats(self) -> dict[str, dict[str, Any]]:
        return {
            c.name: {
                "kind": c.kind,
                "streams": c.streams,
                "pid": c.proc.pid if c.proc else None,
                "alive": bool(c.proc and c.proc.is_alive()),
                "restarts": c.restarts,
                "stalls": c.stalls,
                "crashes_in_window": len(c.crashes),
                "state": c.outcome or ("offline" if c.retry_at is not None else "running"),
            }
            for c in self.children
        }


CAPTURE_CORES = 0.06  # a 640x480 30-fps stream's capture: 1.8 ms a frame (bench/results/profile-4-streams)
SUPERVISOR_CORES = 0.05


def worker_count(workers: int | str, streams: int) -> int:
    """The workers a run starts: `stream.workers`, or for "auto" enough workers to use the cores left after
    the captures and the supervisor (the cores this process may use, less their share, rounded up: a worker
    runs on one core at a time), at most one per stream, at least one.

    Rounded up, not down: on 2 cores 8 streams' captures leave 1.47 cores, and one worker alone lost
    2.4 % of 8 streams where two lost none (bench/results/full-zen4-run1, README tuning).
    """
    if workers != "auto":
        return int(workers)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    left = cores - SUPERVISOR_CORES - CAPTURE_CORES * streams
    return max(1, min(streams, math.ceil(left)))


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    """`items` in order, `size` at a time (the last chunk may be shorter): the capture processes' sources."""
    return [items[i:i + size] for i in range(0, len(items), size)]


def assign(streams: list[str], workers: int) -> list[list[str]]:
    """Streams per worker. A stream stays with one worker when it can, so its tracks see every
    frame it gets; with more workers than streams, a stream's frames are shared by several."""
    if workers <= len(streams):
        return [[s for i, s in enumerate(streams) if i % workers == k] for k in range(workers)]
    return [[streams[k % len(streams)]] for k in range(workers)]


def exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
