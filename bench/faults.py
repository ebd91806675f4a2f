"""Faults for `bench/soak.py --faults`: kill a worker, a capture or the database, then check nothing was lost.

Every `every_s` one fault, chosen at random: SIGKILL of a worker, SIGKILL of a
capture, or SIGKILL of the private MariaDB server followed by a restart a few
seconds later. At the end: every alert event that `dfd watch` printed is in
the database exactly once (event ids are derived from the event, so a replay
cannot add a second row, and a missing one is a loss), and the run left
nothing in /dev/shm or its temporary folder.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from bench.mariadb import PrivateMariaDB, root_connection
from stream.alerts.records import event_id

DATABASE = "dfd_soak"
DB_DOWN_S = 5.0


@dataclass
class Fault:
    t_s: float
    kind: str  # "worker" | "capture" | "database"
    target: str


@dataclass(eq=False)  # a Thread must stay hashable
class Injector(threading.Thread):
    """Injects one fault every `every_s` into the run whose latest stats `latest()` returns."""

    latest: Callable[[], dict]  # the latest "streams" snapshot of the run
    db: PrivateMariaDB
    every_s: float
    rng: random.Random = field(default_factory=random.Random)
    faults: list[Fault] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__init__(name="soak-faults", daemon=True)
        self._t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            kind = self.rng.choice(["worker", "capture", "database"])
            if kind == "database":
                self.db.kill()
                self._log(kind, f"mariadbd on port {self.db.port}, back in {DB_DOWN_S:.0f} s")
                if self.stop.wait(DB_DOWN_S):
                    self.db.start()
                    return
                self.db.start()
                continue
            alive = [(name, p["pid"]) for name, p in self.latest().get("processes", {}).items()
                     if p.get("kind") == kind and p.get("alive") and p.get("pid")]
            if alive:
                name, pid = self.rng.choice(alive)
                try:
                    os.kill(pid, signal.SIGKILL)
                    self._log(kind, f"{name} (pid {pid})")
                except ProcessLookupError:
                    pass

    def _log(self, kind: str, target: str) -> None:
        fault = Fault(round(time.monotonic() - self._t0, 1), kind, target)
        self.faults.append(fault)
        print(f"  fault at {fault.t_s:7.1f} s: kill -9 {kind} {target}", flush=True)


def alerts_url(db: PrivateMariaDB) -> str:
    conn = root_connection(db.port)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
    conn.close()
    return f"mysql://root@127.0.0.1:{db.port}/{DATABASE}"


def printed_event_ids(stdout_log: Path) -> list[str]:
    """The ids of the alert events `dfd watch` printed (its JSON lines on stdout)."""
    ids = []
    for line in stdout_log.read_text().splitlines():
        if '"type":"alert"' in line.replace(" ", ""):
            e = json.loads(line)
            ids.append(event_id(SimpleNamespace(alert_id=e["alert_id"], kind=e["kind"], ts=e["ts"])))
    return ids


def check(db: PrivateMariaDB, stdout_log: Path, supervisor_pid: int, temp_dir: Path) -> list[str]:
    """What the run lost or left behind; empty when nothing."""
    printed = printed_event_ids(stdout_log)
    conn = root_connection(db.port, DATABASE)
    with conn.cursor() as cur:
        cur.execute("SELECT event_id FROM alert_events")
        stored = {row[0] for row in cur.fetchall()}
    conn.close()
    problems = []
    lost = [i for i in printed if i not in stored]
    if lost:
        problems.append(f"{len(lost)} of {len(printed)} printed alert events are not in the database")
    if len(set(printed)) != len(printed):
        problems.append("an alert event was printed twice")
    prefix = f"dfd-{supervisor_pid}-"
    left = [str(p) for folder in (Path("/dev/shm"), temp_dir) for p in folder.iterdir() if p.name.startswith(prefix)]
    if left:
        problems.append(f"left behind: {', '.join(left)}")
    print(f"faults: {len(printed)} alert events printed, {len(stored)} in the database", flush=True)
    return problems
