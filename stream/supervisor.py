"""The supervisor of `dfd watch`: wires the run together, gathers its events, stops it cleanly.

It creates every shared-memory ring and the private runtime directory of the
ipc:// sockets, hands the process table (stream.processes) the capture processes
(stream.streams_per_capture sources each) and the workers, feeds the per-stream numbers (stream.stats), the
console's alert list (stream.board) and the alert recorder, and on Ctrl-C /
SIGTERM stops everything within a few seconds: workers end their open alerts,
the recorder flushes, every ring is unlinked.

`stats()` builds the one dict of numbers that the console, the JSON-lines
output and the benchmarks all read.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import zmq

from edge_model.manifest import load_manifest, resolve_model_dir
from stream.alerts.interrupted import OpenAlerts
from stream.board import AlertBoard
from stream.capture_spec import CaptureSettings, CaptureSpec, capture_main
from stream.config import Config, secret_from_env
from stream.events import DirectoryServer, EventReceiver
from stream.evidence import unwritable
from stream.keys import read_curve_settings
from stream.launch import Launcher
from stream.lifeline import run_id, sweep_stale
from stream.processes import Child, ProcessTable, assign, chunks, worker_count
from stream.shm import RingSpec, Segment, create_ring
from stream.sources import Source
from stream.stats import StreamStats, Totals
from stream.transport import Endpoints, Security, ipc_endpoints, tcp_endpoints
from stream.wire import AlertEvent, Message, ScoreEvent, StreamState, WorkerStats
from stream.worker_spec import WorkerSettings, WorkerSpec, worker_main

STOP_GRACE_S = 3.0
DRAIN_S = 2.0  # after every source ended, let the workers finish


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
        self.open_alerts = OpenAlerts(lambda end: self.handle(end, time.monotonic()))  # ended if their worker dies
        self.problems: list[str] = []  # found at start (evidence folder, database): shown until the end
        self._rejected = Totals()  # malformed messages each worker skipped
        self.processes = ProcessTable(cfg.stream, Launcher(), self._notice)
        self.rings: list[Segment] = []
        self.recorder = None
        self.integrations = None  # MQTT, webhooks, metrics (stream.sinks): those the config turns on
        s = cfg.stream  # bad key files: one line now, before any process starts
        self.curve = read_curve_settings(s.curve_secret_key, s.curve_authorized, s.curve_server_key)
        self._zmq = zmq.Context()
        self.security = Security(self._zmq, self.curve) if self.curve else None
        self._run = run_id()
        for path in sweep_stale():
            self.notice(f"removed {path}, left by a dfd run that was killed")
        self._run_dir = tempfile.mkdtemp(prefix=f"{self._run}-")  # mode 0700: the ipc sockets are ours only
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
        from stream.sinks.integrations import open_integrations

        s, a = self.cfg.stream, self.cfg.alerts
        self.recorder = open_recorder(a.url, a.spool, secret_from_env(a.password_env), streams=list(self.streams))
        sink = self.recorder.status()
        if sink.state != "ok":
            self._problem(
                f"alerts: {sink.last_error}; they wait in {a.spool} and are written when it is reachable;"
                " fix: start the database, or --alerts URL (alerts.url)"
            )
        self.integrations = open_integrations(self.cfg, [src.name for src in self.sources], self.manifest.model_id)
        self._problem(unwritable(a.evidence_dir))
        self.inbox = EventReceiver(self._zmq, self.endpoints.events, self.security)
        if self.endpoints.directory:
            self.directory = DirectoryServer(self._zmq, self.endpoints, self.security, self.manifest.model_id)
        ring_specs: dict[str, RingSpec] = {}
        captures = []
        for i, src in enumerate(self.sources):
            spec = RingSpec(f"{self._run}-{i}", s.ring_slots, s.max_width, s.max_height)
            self.rings.append(create_ring(spec))
            ring_specs[src.name] = spec
            use_ring = spec if s.transport == "ipc" else None
            captures.append(CaptureSpec(src, self.endpoints.frames[src.name], self.endpoints.events, use_ring,
                                        CaptureSettings.of(s), self.curve))
        for group in chunks(captures, s.streams_per_capture):
            names = [c.source.name for c in group]
            self.processes.add("+".join(names), "capture", capture_main, group, streams=names)
        if self.integrations.web and s.transport == "ipc":  # the page's live view reads the rings
            self.integrations.web.show_rings(ring_specs)
        settings = WorkerSettings.of(self.cfg, self.manifest.threshold)
        for k, served in enumerate(assign([src.name for src in self.sources], worker_count(s.workers, len(self.sources)))):
            spec = WorkerSpec(
                f"w{k}", {n: self.endpoints.frames[n] for n in served}, self.endpoints.events, settings,
                {n: ring_specs[n] for n in served} if s.transport == "ipc" else None, curve=self.curve,
            )
            self.processes.add(f"w{k}", "worker", worker_main, spec, streams=served)
        self.processes.start()

    def _notice(self, line: str) -> None:
        self.notice(line)  # late-bound: the console replaces `notice` after construction

    def _problem(self, line: str) -> None:
        """A problem found at start: said now (stderr) and kept for the console's status."""
        if line:
            self.problems.append(line)
            self.notice(line)

    # ---- the loop ----------------------------------------------------------------------------
    def handle(self, msg: Message, now: float) -> None:
        if isinstance(msg, AlertEvent):  # journaled before it is shown: a printed alert survives kill -9
            self.recorder.submit(msg)
        self.emit(msg)
        if self.integrations:
            self.integrations.on_message(msg)
        if isinstance(msg, StreamState) and msg.stream in self.streams:
            st = self.streams[msg.stream]
            if msg.error and msg.error != st.error:
                self.notice(f"{msg.stream}: {msg.error}")
            st.on_state(msg, now)
        elif isinstance(msg, WorkerStats):
            self._rejected.update(msg.worker, msg.started_at, (msg.rejected,))
            self.processes.heard_from(msg.worker, now)
            if msg.stream in self.streams:
                self.streams[msg.stream].on_stats(msg, now)
        elif isinstance(msg, ScoreEvent) and msg.stream in self.streams:
            self.streams[msg.stream].on_score(msg)
        elif isinstance(msg, AlertEvent):
            if msg.stream in self.streams:
                self.streams[msg.stream].on_alert(msg)
            self.alerts.fold(msg)
            self.open_alerts.fold(msg)

    def poll(self, timeout_s: float) -> None:
        msgs = self.inbox.recv(timeout_s)
        now = time.monotonic()
        for msg in msgs:
            self.handle(msg, now)
        if self.directory:
            self.directory.serve()

    def _stalled(self, child: Child, now: float) -> str:
        """Why a capture process counts as stalled, or "": one of its live streams says "online" but sent no
        frame since the process's last start (its reader's own timeout did not fire: a hung native call)."""
        for spec in child.spec:
            st = self.streams[spec.source.name]
            silent = now - max(st.last_frame, child.started)
            if spec.source.live and st.state == "online" and silent > self.cfg.stream.stall_timeout_s:
                return f"{spec.source.name}: no frame for {silent:.0f} s"
        return ""

    def check_children(self) -> None:
        self.processes.check(self._stalled)
        self.open_alerts.check_workers(self.processes.of_kind("worker"), drain=lambda: self.poll(0))
        for child in self.processes.of_kind("capture"):
            if child.retry_at is not None:  # out of restarts: never shown online while it is not running
                for name in child.streams:
                    self.streams[name].state = "offline"

    def finished(self) -> bool:
        return self.processes.finished() or self.processes.failed()

    def run(self, duration_s: float | None = None, tick: Callable[[], None] | None = None) -> None:
        """The main loop, until stopped, `duration_s` passed, or every source ended."""
        drain_until = None
        while not self.stopping:
            self.poll(0.1)
            self.check_children()
            if tick:
                tick()
            if self.integrations:
                self.integrations.tick(self.stats)
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
        # the workers' last events while they end: `end` of open alerts, final stats
        self.processes.stop(STOP_GRACE_S, drain=lambda: self.poll(0.05) if self.inbox else time.sleep(0.05))
        if self.inbox:
            self.poll(0.05)
            self.inbox.close()
        if self.directory:
            self.directory.close()
        self.open_alerts.interrupt(self.streams)  # a worker killed after the grace did not end its alerts
        if self.recorder is not None:
            self.recorder.close(timeout=3.0)
        if self.integrations is not None:
            self.integrations.close(timeout=3.0)
        for ring in self.rings:
            ring.close()
            ring.unlink()
        if self.security:
            self.security.close()
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
            "sample_fps": self.cfg.stream.sample_fps,  # 0: every frame scored
            "streams": {name: st.snapshot(now) for name, st in self.streams.items()},
            "processes": self.processes.stats(),
            "rejected": self._rejected.total(1)[0] + (self.inbox.rejected if self.inbox else 0),
            "problems": list(self.problems),
            "evidence_dir": self.cfg.alerts.evidence_dir,
            "segments": [r.name for r in self.rings],  # shared memory this run owns (unlinked at stop)
            "sinks": self.integrations.status() if self.integrations else {},
            "sink": None if sink is None else {
                "state": sink.state, "spool_depth": sink.spool_depth, "written": sink.written,
                "backend": sink.backend, "last_error": sink.last_error, "unsaved": sink.unsaved,
            },
        }
