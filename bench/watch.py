"""Run `dfd watch` as a user would, and collect what it reports.

The run is a real `dfd watch --no-console` subprocess on file sources paced
in real time. Its JSON-line events are stamped when they arrive; meanwhile
the RSS of its whole process tree is sampled, and the alert database is
polled so that the moment each alert record becomes visible is known.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.context import Skip
from bench.procfs import (
    cmdline,
    descendants,
    own_rss_kib,
    peak_rss_kib,
    processes,
    pss_kib,
    rss_kib,
)

STOP_GRACE_S = 20.0  # beyond --duration: model loading, shutdown and flushing alerts
POLL_S = 0.02  # alert database polling: the resolution of capture -> record written
MEMORY_EVERY_S = 0.25


@dataclass
class ProcessMemory:
    label: str
    peak_rss_kib: int = 0


@dataclass
class WatchRun:
    events: list[dict]  # the JSON lines, each with "_seen": when it arrived
    started: float  # time.time() when the subprocess was started
    returncode: int
    stderr: str
    processes: dict[int, ProcessMemory] = field(default_factory=dict)
    peak_total_rss_kib: int = 0
    peak_total_pss_kib: int = 0
    peak_total_own_kib: int = 0  # RSS less library pages (procfs.own_rss_kib)
    records_seen: dict[tuple[str, str, float], float] = field(default_factory=dict)  # (alert, kind, frame_ts) -> seen

    def of_type(self, kind: str) -> list[dict]:
        return [e for e in self.events if e.get("type") == kind]

    def name_processes(self) -> None:
        """Label each process by the role the supervisor reports for its pid (capture, worker)."""
        for snapshot in self.of_type("streams") + self.of_type("summary"):
            for child in snapshot.get("processes", {}).values():
                mem = self.processes.get(child.get("pid"))
                if mem is not None and child.get("kind"):
                    mem.label = f"{child['kind']} process"


def _label(pid: int, root: int, name: str, index: int) -> str:
    """A readable role: the supervisor, a named process, or the n-th child in start order."""
    if pid == root:
        return "supervisor"
    if "resource_tracker" in cmdline(pid):
        return "multiprocessing resource tracker"
    if name and not name.startswith("python") and name not in ("taskset", "dfd"):
        return name
    return f"child {index}"


class _Sampler(threading.Thread):
    """RSS of every process under `root` (VmHWM is each one's own peak) and of the tree as a whole."""

    def __init__(self, run: WatchRun, root: int, db: Path | None) -> None:
        super().__init__(name="watch-sampler", daemon=True)
        self.run_, self.root, self.db = run, root, db
        self.stop = threading.Event()
        self._order: dict[int, int] = {}

    def run(self) -> None:
        next_memory = 0.0
        while not self.stop.wait(POLL_S):
            if self.db is not None:
                self._poll_db()
            if time.monotonic() >= next_memory:
                next_memory = time.monotonic() + MEMORY_EVERY_S
                self._sample_memory()

    def _sample_memory(self) -> None:
        procs = processes()
        tree = descendants(self.root, procs) & procs.keys()
        total = pss = own = 0
        for pid in sorted(tree):
            rss = rss_kib(pid)
            total += rss
            pss += pss_kib(pid)
            own += own_rss_kib(pid)
            if pid not in self._order:
                self._order[pid] = len(self._order)
                self.run_.processes[pid] = ProcessMemory(_label(pid, self.root, procs[pid].name, self._order[pid]))
            mem = self.run_.processes[pid]
            mem.peak_rss_kib = max(mem.peak_rss_kib, peak_rss_kib(pid), rss)
        self.run_.peak_total_rss_kib = max(self.run_.peak_total_rss_kib, total)
        self.run_.peak_total_pss_kib = max(self.run_.peak_total_pss_kib, pss)
        self.run_.peak_total_own_kib = max(self.run_.peak_total_own_kib, own)

    def _poll_db(self) -> None:
        if not self.db.is_file():
            return
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=0.05) as con:
                rows = con.execute("SELECT alert_id, kind, frame_ts FROM alert_events").fetchall()
        except sqlite3.Error:  # not created yet, or locked by the writer: try again next poll
            return
        now = time.time()
        for alert_id, kind, frame_ts in rows:
            self.run_.records_seen.setdefault((alert_id, kind, frame_ts or 0.0), now)


def run_watch(
    sources: list[Path],
    config: Path | None,
    seconds: float,
    workdir: Path,
    *,
    cpus: str | None = None,
    extra: tuple[str, ...] = (),
    model: Path | None = None,
    poll_db: bool = False,
    live: Callable[[WatchRun], None] | None = None,
) -> WatchRun:
    """One `dfd watch` run over `sources` (stream i is named s<i>), for `seconds` seconds.

    `live` gets the run as soon as it starts: its events fill in while `dfd watch` runs.
    """
    db = workdir / "alerts.db"
    for stale in workdir.glob("alerts.*"):
        stale.unlink()
    cmd = [sys.executable, "-m", "stream.cli", "watch",
           *[f"s{i}={p}" for i, p in enumerate(sources, 1)],
           "--no-console", "--duration", f"{seconds:g}", "--loop",
           "--alerts", f"sqlite:///{db}", "--evidence-dir", str(workdir / "evidence"), *extra]
    if config is not None:
        cmd += ["--config", str(config)]
    if model is not None:
        cmd += ["--model", str(model)]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    started = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workdir, env=env)
    run = WatchRun(events=[], started=started, returncode=-1, stderr="")
    if live is not None:
        live(run)
    sampler = _Sampler(run, proc.pid, db if poll_db else None)
    sampler.start()
    errors: list[str] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)
    reader.start()
    watchdog = threading.Timer(seconds + STOP_GRACE_S, proc.kill)  # a hung shutdown must not hang the bench
    watchdog.start()
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            event["_seen"] = time.time()
            run.events.append(event)
    run.returncode = proc.wait()
    watchdog.cancel()
    sampler.stop.set()
    sampler.join()
    if poll_db:
        sampler._poll_db()  # records flushed at shutdown
    run.name_processes()
    reader.join(timeout=5)
    run.stderr = "".join(errors)
    if run.returncode != 0 and not run.events:
        last = run.stderr.strip().splitlines()[-1:] or [f"exit code {run.returncode}"]
        raise Skip(f"`dfd watch` did not run: {last[0]}")
    return run
