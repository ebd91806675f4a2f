"""Captures under SCHED_BATCH against the default policy: frames lost and CPU a frame, same streams.

    python -m bench.scheduling --streams 8,12,14,15,16 --out bench/results/scheduling
    python -m bench.scheduling --low-end --streams 2,8,16 --out bench/results/scheduling-low-end

`stream.capture_scheduling` decides whether a capture woken for its next frame
may preempt a worker in the middle of a model run ("normal") or waits for it
to block ("batch", stream/scheduling.py). This runs `dfd watch` on N copies of
the bench's clip under each setting in turn (before, after, before, after: the
machine's speed drifts), and records for each run the worst stream's share of
frames lost and the whole machine's CPU time over the frames processed (run
it on a quiet machine). With --low-end, configs/low-end.toml pinned to one core.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.capacity import FPS, held, throughput
from bench.clips import ClipSpec, clip
from bench.host import cpu_line, host_facts
from bench.procfs import HZ, busy_jiffies
from bench.watch import run_watch
from stream.config import CONFIG_DIR, load_config

SECONDS, WARMUP_S = 20.0, 6.0
SETTINGS = ("normal", "batch")


def config_with(base: Path | None, setting: str, folder: Path) -> Path:
    """`base` (or the defaults) with stream.capture_scheduling = setting, as a new file."""
    line = f'capture_scheduling = "{setting}"\n'
    text = base.read_text() if base else ""
    text = text.replace("[stream]\n", "[stream]\n" + line, 1) if "[stream]\n" in text else text + "\n[stream]\n" + line
    path = folder / f"{setting}.toml"
    path.write_text(text)
    if load_config(path).stream.capture_scheduling != setting:
        raise SystemExit(f"bench.scheduling: could not set stream.capture_scheduling in {path}")
    return path


def one_run(source: Path, streams: int, config: Path, cpus: str | None, rate: float, work: Path) -> dict:
    marks: dict[str, tuple[float, int]] = {}

    def sample() -> None:  # the machine's busy time over the counted part of the run
        time.sleep(WARMUP_S)
        marks["from"] = (time.time(), busy_jiffies())
        time.sleep(SECONDS - WARMUP_S - 3.0)
        marks["to"] = (time.time(), busy_jiffies())

    sampler = threading.Thread(target=sample)
    sampler.start()
    run = run_watch([source] * streams, config, SECONDS, work, cpus=cpus)
    sampler.join()
    ok, worst = held(run, streams, WARMUP_S, rate)
    processed = sum(r["processed_fps"] for r in throughput(run, WARMUP_S, rate).values())
    (t0, j0), (t1, j1) = marks["from"], marks["to"]
    cores = (j1 - j0) / HZ / (t1 - t0)
    return {"streams": streams, "held": ok, "worst_lost_pct": round(worst, 2), "processed_fps": round(processed, 1),
            "cores_busy": round(cores, 3), "cpu_ms_per_frame": round(1000 * cores / processed, 3) if processed else None}


def measure(streams: list[int], low_end: bool, repeats: int, work: Path) -> dict:
    base = CONFIG_DIR / "low-end.toml" if low_end else None
    sampled = load_config(base).stream.sample_fps if base else 0.0
    rate = min(sampled, FPS) if sampled else FPS
    cpus = "0" if low_end else None
    source = clip(work, ClipSpec(640, 480, seconds=10.0, fps=FPS))
    configs = {s: config_with(base, s, work) for s in SETTINGS}
    runs = [{"setting": s, "repeat": r + 1, **one_run(source, n, configs[s], cpus, rate, work)}
            for r in range(repeats) for s in SETTINGS for n in streams]
    return {"cpu": cpu_line(host_facts()), "config": "low-end.toml, taskset -c 0" if low_end else "default",
            "scored_fps": rate, "seconds": SECONDS, "warmup_seconds": WARMUP_S, "runs": runs}


def markdown(r: dict) -> str:
    lines = [f"# Captures under SCHED_BATCH against the default policy ({r['config']})", "",
             f"**CPU:** {r['cpu']}", "", "Written by `python -m bench.scheduling`: `dfd watch` runs of "
             f"{r['seconds']:g} s (the first {r['warmup_seconds']:g} s not counted), the two settings in turn; "
             "CPU is the whole machine's over the frames processed.", "",
             "| streams | repeat | `capture_scheduling` | worst stream's frames lost | held (< 1 %) | CPU ms a frame |",
             "|---|---|---|---|---|---|"]
    for x in sorted(r["runs"], key=lambda x: (x["streams"], x["repeat"], x["setting"])):
        lines.append(f"| {x['streams']} | {x['repeat']} | {x['setting']} | {x['worst_lost_pct']:.2f} % | "
                     f"{'yes' if x['held'] else 'no'} | {x['cpu_ms_per_frame']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scheduling", description=__doc__.split("\n")[0])
    p.add_argument("--streams", default="8,12,14", help="comma-separated stream counts")
    p.add_argument("--low-end", action="store_true", help="configs/low-end.toml pinned to one core")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("bench/results/scheduling"))
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        r = measure([int(n) for n in a.streams.split(",")], a.low_end, a.repeats, Path(tmp))
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "scheduling.json").write_text(json.dumps(r, indent=1) + "\n")
    (a.out / "scheduling.md").write_text(markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
