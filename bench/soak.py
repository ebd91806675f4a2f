"""Soak test: `dfd watch` on four looping file sources for minutes or hours; fails if memory or descriptors keep growing.

    python bench/soak.py --minutes 10 --out soak-out      # hours: --minutes 240

Every few seconds it samples the RSS of every process of the run (the
supervisor, captures, workers, multiprocessing's helper), their open file
descriptors, the run's entries in /dev/shm and the alert spool's depth. After a
warm-up it fits a straight line to each series: a slope above its bound is a
leak and the run fails (exit 1). It writes soak.csv, and soak.png when
matplotlib is installed. Not part of the test suite: it runs for as long as
you ask.

    python bench/soak.py --minutes 10 --faults --out faults-out

With --faults the alerts go to a private MariaDB server, and every minute
(--fault-every) a random worker, capture or the database is killed
(bench/faults.py); the run fails if an alert event it printed is not in the
database exactly once, or if it left anything in /dev/shm or its temp folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import faults  # noqa: E402
from bench.clips import ClipSpec, clip  # noqa: E402
from bench.mariadb import PrivateMariaDB  # noqa: E402
from bench.procfs import descendants, open_files, processes, rss_kib  # noqa: E402

SHM = Path("/dev/shm")
# Different face gaps per stream: tracks and alerts keep starting and ending, as they do on real cameras.
CLIPS = [ClipSpec(640, 480, 10.0, 15, gap) for gap in (0.0, 3.0, 5.0, 7.0)]
STOP_GRACE_S = 30.0


@dataclass
class Sample:
    t_s: float
    rss_total_mb: float
    rss_supervisor_mb: float
    rss_captures_mb: float
    rss_workers_mb: float
    rss_other_mb: float
    fds: int
    processes: int
    shm_entries: int
    shm_run_mb: float
    spool_depth: int
    restarts: int
    processed: int


@dataclass(frozen=True)
class Bound:
    column: str
    per_min: float
    unit: str


class Snapshots(threading.Thread):
    """Reads the run's JSON lines: keeps the latest "streams" snapshot (memory stays flat), logs alert events."""

    def __init__(self, proc: subprocess.Popen, alerts_log: Path) -> None:
        super().__init__(name="soak-reader", daemon=True)
        self.proc = proc
        self.latest: dict = {}
        self.alerts_log = alerts_log

    def run(self) -> None:
        with self.alerts_log.open("w") as alerts:
            for line in self.proc.stdout:
                self._read(line, alerts)

    def _read(self, line: str, alerts) -> None:
        if line.startswith('{"type":"alert"'):
            alerts.write(line)  # every alert event printed, for the --faults check
            alerts.flush()
        elif line.startswith('{"type": "streams"') or line.startswith('{"type":"streams"'):
            try:
                self.latest = json.loads(line)
            except json.JSONDecodeError:
                pass


def sample(root: int, started: float, snap: dict) -> Sample:
    procs = processes()
    tree = descendants(root, procs) & procs.keys()
    kinds = {c.get("pid"): c.get("kind") for c in snap.get("processes", {}).values()}
    rss: dict[str, int] = {"supervisor": 0, "capture": 0, "worker": 0, "other": 0}
    for pid in tree:
        role = "supervisor" if pid == root else kinds.get(pid) or "other"
        rss[role if role in rss else "other"] += rss_kib(pid)
    segments = snap.get("segments", [])
    # The run's rings are dfd-<token>-<i>: count every entry with its prefix, so a leaked one shows.
    prefixes = {s.rsplit("-", 1)[0] + "-" for s in segments}
    entries = [e for e in SHM.iterdir() if any(e.name.startswith(p) for p in prefixes)] if SHM.is_dir() else []
    run_bytes = sum(e.stat().st_size for e in entries if e.exists())
    streams = snap.get("streams", {}).values()
    return Sample(
        t_s=round(time.monotonic() - started, 1),
        rss_total_mb=round(sum(rss.values()) / 1024, 2),
        rss_supervisor_mb=round(rss["supervisor"] / 1024, 2),
        rss_captures_mb=round(rss["capture"] / 1024, 2),
        rss_workers_mb=round(rss["worker"] / 1024, 2),
        rss_other_mb=round(rss["other"] / 1024, 2),
        fds=sum(open_files(pid) for pid in tree),
        processes=len(tree),
        shm_entries=len(entries),
        shm_run_mb=round(run_bytes / 2**20, 2),
        spool_depth=int((snap.get("sink") or {}).get("spool_depth") or 0),
        restarts=sum(int(c.get("restarts", 0)) for c in snap.get("processes", {}).values()),
        processed=sum(int(s.get("processed", 0)) for s in streams),
    )


def slope_per_min(samples: list[Sample], column: str, after_s: float) -> float:
    """Least-squares slope of one column after the warm-up, per minute."""
    xs = np.array([s.t_s for s in samples if s.t_s >= after_s])
    ys = np.array([getattr(s, column) for s in samples if s.t_s >= after_s], dtype=float)
    if len(xs) < 3 or np.ptp(xs) == 0:
        return 0.0
    return float(np.polyfit(xs / 60.0, ys, 1)[0])


def write_csv(path: Path, samples: list[Sample]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f.name for f in fields(Sample)])
        for s in samples:
            w.writerow([getattr(s, f.name) for f in fields(Sample)])


def write_plot(path: Path, samples: list[Sample], warmup_s: float, slopes: dict[str, float]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("soak: matplotlib is not installed, so no plot (pip install matplotlib); the CSV has every sample")
        return False
    t = np.array([s.t_s for s in samples]) / 60.0
    panels = [
        ("RSS (MB)", ["rss_total_mb", "rss_supervisor_mb", "rss_captures_mb", "rss_workers_mb", "rss_other_mb"]),
        ("open file descriptors", ["fds"]),
        ("/dev/shm", ["shm_entries", "shm_run_mb"]),
        ("alert spool depth", ["spool_depth"]),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 10), sharex=True)
    for ax, (title, columns) in zip(axes, panels):
        for c in columns:
            label = c if c not in slopes else f"{c} ({slopes[c]:+.3f}/min after warm-up)"
            ax.plot(t, [getattr(s, c) for s in samples], label=label)
        ax.axvline(warmup_s / 60.0, color="grey", linestyle=":", label="end of warm-up")
        ax.set_ylabel(title)
        ax.legend(fontsize=7, loc="upper left")
    axes[-1].set_xlabel("minutes")
    fig.suptitle("dfd watch soak: four looping file sources")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def run_soak(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sources = [clip(out, spec) for spec in CLIPS]
    duration_s = args.minutes * 60.0
    warmup_s = min(args.warmup_minutes * 60.0, duration_s / 3)
    db = PrivateMariaDB(out / "mariadb") if args.faults else None
    if db:
        db.start()
    alerts = faults.alerts_url(db) if db else f"sqlite:///{out / 'alerts.db'}"
    cmd = [sys.executable, "-m", "stream.cli", "watch", *[f"s{i}={p}" for i, p in enumerate(sources, 1)],
           "--no-console", "--loop", "--duration", f"{duration_s:g}", "--alerts", alerts,
           "--evidence-dir", str(out / "evidence"), *(["--model", args.model] if args.model else [])]
    temp = out / "tmp"
    temp.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", TMPDIR=str(temp))
    nice = (lambda: os.nice(args.nice)) if args.nice else None
    with (out / "dfd-watch.stderr").open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=out, env=env,
                                preexec_fn=nice)
        reader = Snapshots(proc, out / "alerts.jsonl")
        reader.start()
        injector = faults.Injector(lambda: reader.latest, db, args.fault_every) if db else None
        started = time.monotonic()
        samples: list[Sample] = []
        print(f"soak: {len(sources)} looping sources for {args.minutes:g} min, sampling every {args.interval:g} s "
              f"(warm-up {warmup_s / 60:.1f} min); writing {out}", flush=True)
        try:
            if injector:
                injector.start()
            while proc.poll() is None and time.monotonic() - started < duration_s + STOP_GRACE_S:
                time.sleep(args.interval)
                if proc.poll() is None and reader.latest:
                    samples.append(sample(proc.pid, started, reader.latest))
                    if len(samples) % max(1, int(60 / args.interval)) == 0:
                        s = samples[-1]
                        print(f"  {s.t_s / 60:5.1f} min  RSS {s.rss_total_mb:7.1f} MB  fds {s.fds:4d}  "
                              f"shm {s.shm_entries}  spool {s.spool_depth}  processed {s.processed}", flush=True)
        finally:
            if injector and injector.is_alive():
                injector.stop.set()
                injector.join()
            if proc.poll() is None:
                proc.terminate()
            code = proc.wait(STOP_GRACE_S)
            reader.join(5)
    write_csv(out / "soak.csv", samples)
    lost = faults.check(db, out / "alerts.jsonl", proc.pid, temp) if db else []
    if db:
        db.cleanup()
    if code != 0 or len(samples) < 3:
        print(f"soak: `dfd watch` exited with {code} after {len(samples)} samples; see {out / 'dfd-watch.stderr'}")
        return 2
    bounds = [
        Bound("rss_total_mb", args.max_rss_mb_per_min, "MB"),
        Bound("fds", args.max_fds_per_min, "fds"),
        Bound("shm_entries", args.max_fds_per_min, "entries"),
        Bound("spool_depth", args.max_spool_per_min, "events"),
    ]
    slopes = {c: slope_per_min(samples, c, warmup_s) for c in
              ("rss_total_mb", "rss_supervisor_mb", "rss_captures_mb", "rss_workers_mb", "rss_other_mb",
               "fds", "shm_entries", "spool_depth")}
    plotted = write_plot(out / "soak.png", samples, warmup_s, slopes)
    last = samples[-1]
    print(f"soak: {len(samples)} samples over {last.t_s / 60:.1f} min; {last.processed} frames processed, "
          f"{last.restarts} restarts; CSV {out / 'soak.csv'}" + (f", plot {out / 'soak.png'}" if plotted else ""))
    failed = False
    for b in bounds:
        verdict = "ok" if slopes[b.column] <= b.per_min else "GROWING"
        failed |= verdict != "ok"
        print(f"  {b.column:14s} slope {slopes[b.column]:+8.3f} {b.unit}/min after warm-up "
              f"(bound {b.per_min:g}): {verdict}")
    for c in ("rss_supervisor_mb", "rss_captures_mb", "rss_workers_mb", "rss_other_mb"):
        print(f"    {c:18s} slope {slopes[c]:+8.3f} MB/min")
    for problem in lost:
        print(f"  FAULTS: {problem}")
    print("soak: PASS" if not (failed or lost) else "soak: FAIL")
    return 1 if failed or lost else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/soak.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="how long `dfd watch` runs (default 10)")
    p.add_argument("--out", default="soak-out", help="folder for the clips, CSV, plot and logs (default ./soak-out)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between samples (default 5)")
    p.add_argument("--warmup-minutes", type=float, default=2.0,
                   help="samples before this are not fitted (at most a third of the run; default 2)")
    p.add_argument("--model", help="model folder (default: the packaged model)")
    p.add_argument("--max-rss-mb-per-min", type=float, default=1.0,
                   help="bound on the total RSS slope after warm-up (default 1.0 MB/min, 60 MB/h)")
    p.add_argument("--max-fds-per-min", type=float, default=0.5,
                   help="bound on the slopes of open descriptors and /dev/shm entries (default 0.5/min)")
    p.add_argument("--max-spool-per-min", type=float, default=1.0,
                   help="bound on the alert spool depth's slope (default 1 event/min)")
    p.add_argument("--nice", type=int, default=0, help="run `dfd watch` this much nicer (shared machines)")
    p.add_argument("--faults", action="store_true",
                   help="kill a random worker, capture or the database every --fault-every seconds; check no loss")
    p.add_argument("--fault-every", type=float, default=60.0, help="seconds between faults (default 60)")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.interval <= 0:
        p.error("--minutes and --interval must be > 0")
    return run_soak(args)


if __name__ == "__main__":
    sys.exit(main())
