"""Other load on the machine while the benchmark runs.

A busy neighbour skews every figure, so a background thread samples
/proc/stat and every process's CPU time, and attributes the busy time that
is not ours (this process and its descendants, counted from their start when
they started within the interval) to "others".
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.procfs import HZ, busy_jiffies, cpu_since, descendants, processes


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
        busy, procs, t = busy_jiffies(), processes(), time.monotonic()
        while not self._stop.wait(self.interval):
            busy2, procs2, t2 = busy_jiffies(), processes(), time.monotonic()
            ours = descendants(me, procs2)
            used = cpu_since(procs, procs2)
            ours_delta = sum(j for pid, j in used.items() if pid in ours)
            other = max(0.0, (busy2 - busy - ours_delta) / HZ / (t2 - t))
            by_name: Counter = Counter()
            for pid, j in used.items():
                if pid not in ours:
                    by_name[procs2[pid].name] += j / HZ
            with self._lock:
                self.window.samples.append(other)
                self.window.top.update({k: v for k, v in by_name.items() if v > 0})
            busy, procs, t = busy2, procs2, t2
