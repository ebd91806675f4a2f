"""The supervisor of `dfd watch`: starts the processes, keeps them alive, gathers their events.

It creates every shared-memory ring and the private runtime directory of the
ipc:// sockets, starts one capture process per source and the workers,
restarts a crashed process (up to stream.max_restarts times), restarts a
live capture that stalls, feeds the console and the alert recorder, and on
Ctrl-C / SIGTERM stops everything within a few seconds: workers end their
open alerts, the recorder flushes, every ring is unlinked.

`stats()` builds the one dict of per-stream numbers that the console, the
JSON-lines output and the benchmarks all read.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
import signal
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_model.manifest import load_manifest, resolve_model_dir
from stream.bus import DirectoryServer, Endpoints, EventReceiver, ipc_endpoints, tcp_endpoints
from stream.capture import EXIT_UNUSABLE, CaptureSpec, run_capture
from stream.config import Config, secret_from_env
from stream.curve import curve_context, curve_settings
from stream.evidence import unwritable
from stream.messages import AlertEvent, Message, ScoreEvent, StreamState, WorkerStats
from stream.ring import FrameRing, RingSpec
from stream.sources import Source
from stream.worker import WorkerSpec, run_worker

RATE_WINDOW_S = 5.0
STOP_GRACE_S = 3.0
DRAIN_S = 2.0  # after every source ended, let the workers finish
HISTORY = 24
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


@dataclass
class StreamStats:
    """Running numbers of one stream, from its capture's states and the workers' stats."""

    name: str
    shown: str
    state: str = "starting"
    error: str = ""
    reconnects: int = 0
    captured: int = 0
    dropped_at_capture: int = 0  # no free ring slot: every worker was busy
    processed: int = 0
    dropped_in_ring: int = 0  # a newer frame took its slot before a worker was free
    faces: int = 0
    alerts: int = 0
    active: set = field(default_factory=set)
    score: float | None = None
    history: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=600))
    came_online: bool = False  # a frame arrived at least once
    last_frame: float = field(default_factory=time.monotonic)  # for the stall watchdog
    _capture: deque = field(default_factory=deque)  # (t, captured, dropped)
    _work: deque = field(default_factory=deque)  # (t, worker, processed, skipped, interval_s)

    def on_state(self, m: StreamState, now: float) -> None:
        if self._capture and m.captured < self._capture[-1][1]:  # the capture restarted
            self._capture.clear()
        if not self._capture or m.captured > self._capture[-1][1] or m.state != self.state:
            self.last_frame = now  # the stall watchdog counts from the last frame or state change
        prev = self._capture[-1] if self._capture else (now, m.captured, m.dropped)
        self.captured += max(0, m.captured - prev[1])
        self.came_online = self.came_online or m.captured > 0
        self.dropped_at_capture += max(0, m.dropped - prev[2])
        self._capture.append((now, m.captured, m.dropped))
        self.state, self.error, self.reconnects = m.state, m.error, max(self.reconnects, m.reconnects)

    def on_stats(self, m: WorkerStats, now: float) -> None:
        self.processed += m.processed
        self.dropped_in_ring += m.dropped
        self.faces = m.faces
        self.latency_ms.extend(m.latency_ms)
        self._work.append((now, m.worker, m.processed, m.dropped, m.interval_s))

    def on_score(self, m: ScoreEvent) -> None:
        self.score = m.p_fake
        self.history.append(m.p_fake)

    def on_alert(self, m: AlertEvent) -> None:
        if m.kind == "new":
            self.alerts += 1
            self.active.add(m.alert_id)
        elif m.kind == "end":
            self.active.discard(m.alert_id)

    def _rates(self, now: float) -> tuple[float, float, float]:
        for q in (self._capture, self._work):
            while len(q) > 1 and now - q[0][0] > RATE_WINDOW_S:
                q.popleft()
        capture_fps = dropped_fps = 0.0
        if len(self._capture) > 1:
            (t0, c0, d0), (t1, c1, d1) = self._capture[0], self._capture[-1]
            if t1 > t0:
                capture_fps, dropped_fps = (c1 - c0) / (t1 - t0), (d1 - d0) / (t1 - t0)
        process_fps = 0.0
        for worker in {w[1] for w in self._work}:  # each worker's counts over the time they cover
            mine = [w for w in self._work if w[1] == worker and now - w[0] <= RATE_WINDOW_S]
            covered = sum(w[4] for w in mine)
            if covered > 0:
                process_fps += sum(w[2] for w in mine) / covered
                dropped_fps += sum(w[3] for w in mine) / covered
        return capture_fps, process_fps, dropped_fps

    def snapshot(self, now: float) -> dict[str, Any]:
        """The stream's numbers. "dropped" counts every captured frame no worker scored."""
        capture_fps, process_fps, dropped_fps = self._rates(now)
        lat = np.asarray(self.latency_ms) if self.latency_ms else None
        return {
            "source": self.shown,
            "state": self.state,
            "error": self.error,
            "reconnects": self.reconnects,
            "capture_fps": round(capture_fps, 1),
            "process_fps": round(process_fps, 1),
            "dropped_fps": round(dropped_fps, 1),
            "captured": self.captured,
            "processed": self.processed,
            "dropped": self.dropped_at_capture + self.dropped_in_ring,
            "dropped_at_capture": self.dropped_at_capture,
            "latency_p50_ms": None if lat is None else round(float(np.percentile(lat, 50)), 1),
            "latency_p95_ms": None if lat is None else round(float(np.percentile(lat, 95)), 1),
            "faces": self.faces,
            "score": None if self.score is None else round(self.score, 3),
            "history": [round(x, 3) for x in self.history],
            "alerts": self.alerts,
            "active_alerts": len(self.active),
            "came_online": self.came_online,
        }


@dataclass
class Child:
    """One supervised process and how to start it again."""

    name: str
    kind: str  # "capture" | "worker"
    target: Callable[[Any], None]
    spec: Any
    proc: Any = None
    restarts: int = 0
    done: bool = False  # ended for good (file ended, unusable, or out of restarts)

    def start(self, ctx: Any) -> None:
        self.proc = ctx.Process(target=self.target, args=(self.spec,), name=f"dfd-{self.name}", daemon=True)
        self.proc.start()


def assign(streams: list[str], workers: int) -> list[list[str]]:
    """Streams per worker. A stream stays with one worker when it can, so its tracks see every
    frame it gets; with more workers than streams, a stream's frames are shared by several."""
    if workers <= len(streams):
        return [[s for i, s in enumerate(streams) if i % workers == k] for k in range(workers)]
    return [[streams[k % len(streams)]] for k in range(workers)]


class Supervisor:
    def __init__(
        self,
        cfg: Config,
        sources: list[Source],
        port: int = 5570,
        emit: Callable[[Message], None] | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.sources = sources
        self.port = port
        self.emit = emit or (lambda m: None)
        self.notice = notice or (lambda line: None)
        self.manifest = load_manifest(resolve_model_dir(cfg.model.path or None))
        self.stopping = False
        self._stopped = False
        self.started = time.monotonic()
        self.streams = {s.name: StreamStats(s.name, s.shown) for s in sources}
        self.alerts = AlertBoard()
        self.problems: list[str] = []  # found at start (evidence folder, database): shown until the end
        self.rejected = 0
        self.children: list[Child] = []
        self.rings: list[FrameRing] = []
        self.recorder = None
        self._mp = mp.get_context("spawn")
        self.curve = curve_settings(cfg.stream)  # bad key files: one line now, before any process starts
        self._zmq = curve_context(self.curve)
        self._run_dir = tempfile.mkdtemp(prefix="dfd-")  # mode 0700: the ipc sockets are ours only
        self._token = uuid.uuid4().hex[:10]
        self.endpoints = self._endpoints()
        self.inbox: EventReceiver | None = None
        self.directory: DirectoryServer | None = None

    def _endpoints(self) -> Endpoints:
        names = [s.name for s in self.sources]
        if self.cfg.stream.transport == "tcp":
            return tcp_endpoints(self.cfg.stream.bind, self.port, names)
        return ipc_endpoints(self._run_dir, names)

    # ---- start -------------------------------------------------------------------------------
    def start(self) -> None:
        from stream.alerts import open_recorder  # the recorder's back ends load only for `watch`

        s, a = self.cfg.stream, self.cfg.alerts
        self.recorder = open_recorder(a.url, a.spool, secret_from_env(a.password_env))
        sink = self.recorder.status()
        if sink.state != "ok":
            self._problem(
                f"alerts: {sink.last_error}; they wait in {a.spool} and are written when it is reachable;"
                " fix: start the database, or --alerts URL (alerts.url)"
            )
        self._problem(unwritable(a.evidence_dir))
        self.inbox = EventReceiver(self._zmq, self.endpoints.events)
        if self.endpoints.directory:
            self.directory = DirectoryServer(self._zmq, self.endpoints, self.manifest.model_id)
        ring_specs: dict[str, RingSpec] = {}
        for i, src in enumerate(self.sources):
            spec = RingSpec(f"dfd-{self._token}-{i}", s.ring_slots, s.max_width, s.max_height)
            self.rings.append(FrameRing.create(spec))
            ring_specs[src.name] = spec
            use_ring = spec if s.transport == "ipc" else None
            cap = CaptureSpec(
                src, self.endpoints.frames[src.name], self.endpoints.events, use_ring, s.max_width, s.max_height,
                s.loop, s.realtime, s.stall_timeout_s, s.reconnect_base_s, s.reconnect_max_s, self.curve,
            )
            self.children.append(Child(src.name, "capture", run_capture, cap))
        for k, served in enumerate(assign([src.name for src in self.sources], s.workers)):
            spec = WorkerSpec(
                f"w{k}", {n: self.endpoints.frames[n] for n in served}, self.endpoints.events, self.cfg,
                {n: ring_specs[n] for n in served} if s.transport == "ipc" else None, curve=self.curve,
            )
            self.children.append(Child(f"w{k}", "worker", run_worker, spec))
        for child in self.children:
            child.start(self._mp)

    def _problem(self, line: str) -> None:
        """A problem found at start: said now (stderr) and kept for the console's status."""
        if line:
            self.problems.append(line)
            self.notice(line)

    # ---- the loop ----------------------------------------------------------------------------
    def handle(self, msg: Message, now: float) -> None:
        self.emit(msg)
        if isinstance(msg, StreamState) and msg.stream in self.streams:
            st = self.streams[msg.stream]
            if msg.error and msg.error != st.error:
                self.notice(f"{msg.stream}: {msg.error}")
            st.on_state(msg, now)
        elif isinstance(msg, WorkerStats):
            self.rejected += msg.rejected
            if msg.stream in self.streams:
                self.streams[msg.stream].on_stats(msg, now)
        elif isinstance(msg, ScoreEvent) and msg.stream in self.streams:
            self.streams[msg.stream].on_score(msg)
        elif isinstance(msg, AlertEvent):
            if msg.stream in self.streams:
                self.streams[msg.stream].on_alert(msg)
            self.alerts.fold(msg)
            self.recorder.submit(msg)

    def poll(self, timeout_s: float) -> None:
        msgs = self.inbox.recv(timeout_s)
        now = time.monotonic()
        for msg in msgs:
            self.handle(msg, now)
        if self.directory:
            self.directory.serve()

    def check_children(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.done:
                continue
            code = child.proc.exitcode
            stalled = False
            if code is None and child.kind == "capture":
                st = self.streams[child.name]
                stalled = (
                    child.spec.source.live and st.state == "online"
                    and now - st.last_frame > self.cfg.stream.stall_timeout_s
                )
                if not stalled:
                    continue
                self.notice(f"{child.name}: no frame for {self.cfg.stream.stall_timeout_s:.0f} s, restarting its capture")
                child.proc.kill()
                child.proc.join(2)
            elif code is None:
                continue
            if child.kind == "capture" and code in (0, EXIT_UNUSABLE) and not stalled:
                child.done = True
                continue
            if child.kind == "worker" and code == EXIT_UNUSABLE:
                child.done = True
                self.notice(f"worker {child.name} cannot run; see the line above")
                continue
            if child.restarts >= self.cfg.stream.max_restarts:
                child.done = True
                self.notice(f"{child.kind} {child.name} exited ({_exit_text(code)}); out of restarts, giving up")
                continue
            child.restarts += 1
            if not stalled:
                self.notice(
                    f"{child.kind} {child.name} exited ({_exit_text(code)}); "
                    f"restart {child.restarts}/{self.cfg.stream.max_restarts}"
                )
            if child.kind == "capture":
                self.streams[child.name].last_frame = now
            child.start(self._mp)

    def finished(self) -> bool:
        """True once every capture is done for good (files ended, sources unusable)."""
        captures = [c for c in self.children if c.kind == "capture"]
        workers = [c for c in self.children if c.kind == "worker"]
        return all(c.done for c in captures) or all(c.done for c in workers)

    def run(self, duration_s: float | None = None, tick: Callable[[], None] | None = None) -> None:
        """The main loop, until stopped, `duration_s` passed, or every source ended."""
        drain_until = None
        while not self.stopping:
            self.poll(0.1)
            self.check_children()
            if tick:
                tick()
            now = time.monotonic()
            if duration_s is not None and now - self.started >= duration_s:
                break
            if drain_until is None and self.finished():
                drain_until = now + DRAIN_S
            if drain_until is not None and now >= drain_until:
                break

    # ---- stop --------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after the grace), flush alerts, unlink rings. Once."""
        if self._stopped:
            return
        self._stopped = True
        for child in self.children:
            if child.proc is not None and child.proc.exitcode is None:
                child.proc.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and any(c.proc.is_alive() for c in self.children if c.proc):
            if self.inbox:
                self.poll(0.05)  # the workers' last events: `end` of open alerts, final stats
        for child in self.children:
            if child.proc is not None and child.proc.is_alive():
                child.proc.kill()
                child.proc.join(1)
        if self.inbox:
            self.poll(0.05)
            self.inbox.close()
        if self.directory:
            self.directory.close()
        if self.recorder is not None:
            self.recorder.close(timeout=3.0)
        for ring in self.rings:
            ring.close()
            ring.unlink()
        self._zmq.destroy(linger=0)
        shutil.rmtree(self._run_dir, ignore_errors=True)

    def stats(self) -> dict[str, Any]:
        """The one dict of numbers: per stream, the workers, the alert sink."""
        now = time.monotonic()
        sink = self.recorder.status() if self.recorder is not None else None
        return {
            "uptime_s": round(now - self.started, 1),
            "model": self.manifest.model_id,
            "threshold": self.manifest.threshold,
            "streams": {name: st.snapshot(now) for name, st in self.streams.items()},
            "processes": {
                c.name: {
                    "kind": c.kind,
                    "pid": c.proc.pid if c.proc else None,
                    "alive": bool(c.proc and c.proc.is_alive()),
                    "restarts": c.restarts,
                }
                for c in self.children
            },
            "rejected": self.rejected + (self.inbox.rejected if self.inbox else 0),
            "problems": list(self.problems),
            "evidence_dir": self.cfg.alerts.evidence_dir,
            "segments": [r.spec.name for r in self.rings],  # shared memory this run owns (unlinked at stop)
            "sink": None if sink is None else {
                "state": sink.state, "spool_depth": sink.spool_depth, "written": sink.written,
                "backend": sink.backend, "last_error": sink.last_error,
            },
        }


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
