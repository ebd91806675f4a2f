"""What the benchmarks read from /proc, read in one place: processes, their CPU time, memory and files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Proc:
    ppid: int
    name: str
    cpu_jiffies: int  # user + system time of all its threads (not of its children)


def busy_jiffies() -> int:
    """All CPUs' non-idle time from the first line of /proc/stat."""
    parts = (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return user + nice + system + irq + softirq + steal


def _stat(path: Path) -> Proc | None:
    """A process's or a thread's /proc stat, or None once it is gone."""
    try:
        raw = (path / "stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return Proc(int(fields[1]), raw[raw.index("(") + 1 : raw.rindex(")")], int(fields[11]) + int(fields[12]))


def processes() -> dict[int, Proc]:
    """Every readable process by pid."""
    stats = {int(d.name): _stat(d) for d in PROC.iterdir() if d.name.isdigit()}
    return {pid: p for pid, p in stats.items() if p is not None}


def thread_jiffies(pid: int) -> dict[str, int]:
    """CPU jiffies of one process's threads, summed by thread name ("main" for the process's own thread)."""
    out: dict[str, int] = {}
    for d in (PROC / str(pid) / "task").glob("*"):
        t = _stat(d)
        if t is not None:
            name = "main" if d.name == str(pid) else t.name
            out[name] = out.get(name, 0) + t.cpu_jiffies
    return out


def context_switches(pid: int) -> dict[str, int]:
    """Voluntary (it blocked) and involuntary (it was preempted) switches of all of a process's threads so far."""
    out = {"voluntary": 0, "involuntary": 0}
    keys = {"voluntary_ctxt_switches": "voluntary", "nonvoluntary_ctxt_switches": "involuntary"}
    for status in (PROC / str(pid) / "task").glob("*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:  # that thread ended meanwhile
            continue
        for line in lines:
            key, _, value = line.partition(":")
            if key in keys:
                out[keys[key]] += int(value)
    return out


def cpu_since(before: dict[int, Proc], now: dict[int, Proc]) -> dict[int, int]:
    """CPU jiffies each process of `now` used since `before`; one started in between used all of its own."""
    out = {}
    for pid, p in now.items():
        old = before.get(pid)
        same = old is not None and old.ppid == p.ppid and old.cpu_jiffies <= p.cpu_jiffies  # not a reused pid
        out[pid] = p.cpu_jiffies - old.cpu_jiffies if same else p.cpu_jiffies
    return out


def descendants(root: int, procs: dict[int, Proc]) -> set[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for pid, p in procs.items():
        children.setdefault(p.ppid, []).append(pid)
    seen, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, []))
    return seen


def _field_kib(pid: int | str, file: str, key: str) -> int:
    """A "Key: N kB" line of /proc/PID/FILE, or of /proc/FILE where pid is ""; 0 where absent."""
    try:
        for line in (PROC / str(pid) / file).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_kib(pid: int) -> int:
    return _field_kib(pid, "status", "VmRSS")


def peak_rss_kib(pid: int) -> int:
    return _field_kib(pid, "status", "VmHWM")


def own_rss_kib(pid: int) -> int:
    """RSS less the pages mapped from files (libraries): the process's heap, stacks and shared memory.

    How many pages of a library a process maps depends on the page cache as much as on the
    process: where it holds the library in large folios, a fault maps a whole folio.
    """
    return _field_kib(pid, "status", "RssAnon") + _field_kib(pid, "status", "RssShmem")


def meminfo_kib(key: str) -> int:
    """A machine-wide figure of /proc/meminfo, e.g. FileHugePages."""
    return _field_kib("", "meminfo", key)


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages split among the processes that map them."""
    return _field_kib(pid, "smaps_rollup", "Pss")


def open_files(pid: int) -> int:
    try:
        return len(os.listdir(PROC / str(pid) / "fd"))
    except OSError:
        return 0


def cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
