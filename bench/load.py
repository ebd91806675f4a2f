"""Other load on the machine while the benchmark runs.

A busy neighbour skews every figure, so a background thread samples
/proc/stat and every process's CPU time, and attributes the busy time that
is not ours (this process and its children) to "others".
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


def _busy_jiffies() -> int:
    """All CPUs' non-idle time from the first line of /proc/stat."""
    parts = (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return user + nice + system + irq + softirq + steal


def processes() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, name, CPU jiffies) for every readable process."""
    out = {}
    for d in PROC.iterdir():
        if not d.name.isdigit():
            continue
        try:
            raw = (d / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        out[int(d.name)] = (int(fields[1]), name, int(fields[11]) + int(fields[12]))
    return out


def descendants(root: int, procs: dict[int, tuple[int, str, int]]) -> set[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, []))
    return seen


@dataclass
class LoadWindow:
    """What other processes used while one section ran."""

    samples: list[float] = field(default_factory=list)  # cores busy with others' work
    top: Counter = field(default_factory=Counter)  # process name -> CPU seconds
    loadavg_start: float = 0.0
    loadavg_end: float = 0.0

    def to_dict(self) -> dict:
        s = sorted(self.samples) or [0.0]
        return {
            "other_cores_busy_mean": round(sum(s) / len(s), 3),
            "other_cores_busy_max": round(s[-1], 3),
            "loadavg_1m_start": self.loadavg_start,
            "loadavg_1m_end": self.loadavg_end,
            "top_other_processes_cpu_s": {k: round(v, 1) for k, v in self.top.most_common(5) if v >= 0.5},
        }


class LoadMonitor:
    """Samples others' CPU use every `interval` seconds into the current window."""

    def __init__(self, interval: float = 2.0) -> None:
        self.interval = interval
        self.window = LoadWindow()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="load-monitor", daemon=True)
        self._lock = threading.Lock()

    def __enter__(self) -> LoadMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def start_window(self) -> None:
        with self._lock:
            self.window = LoadWindow(loadavg_start=os.getloadavg()[0])

    def end_window(self) -> dict:
        with self._lock:
            self.window.loadavg_end = os.getloadavg()[0]
            return self.window.to_dict()

    def _loop(self) -> None:
        me = os.getpid()
        busy, procs, t = _busy_jiffies(), processes(), time.monotonic()
        while not self._stop.wait(self.interval):
            busy2, procs2, t2 = _busy_jiffies(), processes(), time.monotonic()
            ours = descendants(me, procs2)
            ours_delta = sum(j - procs.get(p, (0, "", j))[2] for p, (_, _, j) in procs2.items() if p in ours)
            other = max(0.0, (busy2 - busy - ours_delta) / HZ / (t2 - t))
            by_name: Counter = Counter()
            for pid, (_, name, j) in procs2.items():
                if pid not in ours and pid in procs:
                    by_name[name] += (j - procs[pid][2]) / HZ
            with self._lock:
                self.window.samples.append(other)
                self.window.top.update({k: v for k, v in by_name.items() if v > 0})
            busy, procs, t = busy2, procs2, t2
