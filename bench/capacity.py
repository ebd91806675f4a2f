"""How many concurrent 30-fps 640x480 one-face streams `dfd watch` holds.

The number of file sources paced in real time goes up one at a time until a
stream loses 1% or more of its frames (dropped in the ring, dropped at
capture, or never captured because the capture itself fell behind). A config
that samples its streams (`stream.sample_fps`) loses what it does not score
of that rate, not of the source's 30 fps. The
figure is the last number that held. It is measured under the default config,
under the default config with every integration on (MQTT, a webhook,
/metrics, the web page: bench/integrations.py), and under
configs/low-end.toml pinned to one core with taskset.
"""

from __future__ import annotations

import math
import os
import shutil
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

from bench import integrations
from bench.clips import ClipSpec, clip
from bench.context import Context, Skip
from bench.measure import Figure
from bench.watch import WatchRun, run_watch
from edge_model.errors import DfdError
from stream.config import CONFIG_DIR, load_config

FPS = 30
MAX_LOST_PCT = 1.0


@dataclass(frozen=True)
class WatchConfig:
    name: str
    config: Path | None  # None: the built-in defaults
    cpus: str | None  # taskset CPU list, None: all
    extra: tuple[str, ...] = ()
    integrations: bool = False  # MQTT, a webhook, /metrics and the web page on, with live receivers
    rate: float = FPS  # frames a second each stream hands on: the config's stream.sample_fps, or every frame

    def cores(self) -> int:
        return 1 if self.cpus is not None else len(os.sched_getaffinity(0))


DEFAULT = WatchConfig("default", None, None)
INTEGRATIONS = WatchConfig("default, MQTT + webhook + metrics + web on", None, None, integrations=True)


def low_end() -> WatchConfig | None:
    """configs/low-end.toml pinned to one core, or None where there is no taskset to pin it."""
    path = CONFIG_DIR / "low-end.toml"
    if not path.is_file():
        raise DfdError(f"the low-end config {path} is missing: reinstall dfd")
    if not shutil.which("taskset"):
        return None
    sampled = load_config(path).stream.sample_fps
    rate = min(sampled, FPS) if sampled else FPS
    scored = f", {rate:g} of {FPS} fps scored" if rate < FPS else ""
    return WatchConfig(f"low-end.toml, 1 core (taskset -c 0){scored}", path, "0", rate=rate)


def configs(ctx: Context) -> list[WatchConfig]:
    out = [DEFAULT] + ([INTEGRATIONS] if integrations.available() else [])
    cores = DEFAULT.cores()
    if not ctx.plan.quick and cores > 1:
        out.append(WatchConfig(f"default, --workers {cores}", None, None, ("--workers", str(cores))))
    return out + [c for c in (low_end(),) if c is not None]


def steps(ctx: Context) -> int:
    return len(configs(ctx)) * ctx.plan.watch_runs * 4


def stream_clip(ctx: Context) -> Path:
    return clip(ctx.workdir, ClipSpec(640, 480, seconds=10.0, fps=FPS))


def watch(ctx: Context, cfg: WatchConfig, streams: int, *, poll_db: bool = False) -> WatchRun:
    """One run of `streams` copies of the clip under `cfg`, kept for the memory section."""
    run = run_watch([stream_clip(ctx)] * streams, cfg.config, ctx.plan.watch_seconds, ctx.workdir,
                    cpus=cfg.cpus, extra=cfg.extra, model=ctx.models[0], poll_db=poll_db)
    ctx.watch_runs.setdefault((cfg.name, streams), []).append(run)
    return run


def throughput(run: WatchRun, warmup_s: float, rate: float = FPS) -> dict[str, dict]:
    """Per stream, after the warm-up: processed fps, dropped fps and the share lost of the `rate` frames a second
    that the stream hands on.

    Each worker reports its counts since it started, so the frames between a
    worker's first and last report after the warm-up are exact.
    """
    start = run.started + warmup_s
    per: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for s in run.of_type("stats"):
        per[(s["worker"], s["stream"], s["started_at"])].append(s)  # a restarted worker counts anew
    fps: dict[str, dict] = defaultdict(lambda: {"processed_fps": 0.0, "dropped_fps": 0.0, "faces": 0})
    for (_, stream, _), stats in per.items():
        stats = [s for s in sorted(stats, key=lambda s: s["ts"]) if s["ts"] >= start]
        if len(stats) < 2:
            continue
        span = stats[-1]["ts"] - stats[0]["ts"]
        fps[stream]["processed_fps"] += (stats[-1]["processed"] - stats[0]["processed"]) / span
        fps[stream]["dropped_fps"] += (stats[-1]["dropped"] - stats[0]["dropped"]) / span
        fps[stream]["faces"] = max(fps[stream]["faces"], max(s["faces"] for s in stats))
    for row in fps.values():
        row["lost_pct"] = max(0.0, 100.0 * (1.0 - row["processed_fps"] / rate))
    return dict(fps)


def held(run: WatchRun, streams: int, warmup_s: float, rate: float = FPS) -> tuple[bool, float]:
    """Whether every stream kept 99% of its frames, and the worst stream's loss in %."""
    fps = throughput(run, warmup_s, rate)
    worst = max((r["lost_pct"] for r in fps.values()), default=100.0)
    return len(fps) == streams and worst < MAX_LOST_PCT, worst


def step_log(run: WatchRun, streams: int, warmup_s: float, rate: float = FPS) -> dict:
    """One step of the search, with where the worst stream lost its frames."""
    ok, worst = held(run, streams, warmup_s, rate)
    fps = throughput(run, warmup_s, rate)
    row = {"streams": streams, "lost_pct": round(worst, 2), "held": ok}
    if len(fps) > 1:  # fairness: how unevenly the streams lost frames (max - min, points)
        row["spread_pct"] = round(worst - min(r["lost_pct"] for r in fps.values()), 2)
    if fps:
        w = max(fps.values(), key=lambda r: r["lost_pct"])
        row.update(processed_fps=round(w["processed_fps"], 2), dropped_fps=round(w["dropped_fps"], 2))
    final = (run.of_type("summary") or run.of_type("streams") or [{}])[-1].get("streams", {})
    if final:
        row["capture_fps_min"] = min(s.get("capture_fps", 0.0) for s in final.values())
        row["dropped_at_capture"] = sum(s.get("dropped_at_capture", 0) for s in final.values())
    return row


def search(ctx: Context, cfg: WatchConfig) -> tuple[int, list[dict]]:
    """Streams held: step up from one until a step loses frames."""
    best, log = 0, []
    for n in range(1, ctx.plan.max_streams + 1):
        ctx.step(f"capacity: {cfg.name}, {n} stream(s)")
        row = step_log(watch(ctx, cfg, n), n, ctx.plan.warmup_seconds, cfg.rate)
        log.append(row)
        if not row["held"]:
            break
        best = n
    return best, log


def overload(ctx: Context, cfg: WatchConfig, held_streams: int) -> dict | None:
    """One step at 1.5 times the capacity, for fairness under overload: every stream should lose alike
    (max - min loss across streams), not the last-listed ones all of it. Full runs only."""
    if ctx.plan.quick or held_streams < 1:
        return None
    n = math.ceil(1.5 * held_streams)
    ctx.step(f"capacity: {cfg.name}, {n} stream(s), 1.5x")
    return step_log(watch(ctx, cfg, n), n, ctx.plan.warmup_seconds, cfg.rate)


def run(ctx: Context) -> dict:
    if not ctx.models:
        raise Skip("no model to stream with: pass --model DIR (no default model is installed)")
    out = []
    for cfg in configs(ctx):
        found, logs = [], []
        with integrations.integration_flags() if cfg.integrations else nullcontext(()) as flags:
            for _ in range(ctx.plan.watch_runs):
                best, log = search(ctx, replace(cfg, extra=cfg.extra + flags))
                found.append(best)
                logs.append(log)
            over = overload(ctx, replace(cfg, extra=cfg.extra + flags), found[-1])
        out.append({
            "name": cfg.name, "cores": cfg.cores(), "config": str(cfg.config) if cfg.config else None,
            "taskset": cfg.cpus, "scored_fps": cfg.rate, "streams": Figure.of(found, "streams").to_dict(),
            "streams_per_core": Figure.of([f / cfg.cores() for f in found], "streams/core").to_dict(),
            "steps": logs[-1], "all_runs": logs, "overload": over,
        })
    return {"fps": FPS, "frame": "640x480", "max_lost_pct": MAX_LOST_PCT, "max_streams": ctx.plan.max_streams,
            "seconds": ctx.plan.watch_seconds, "warmup_seconds": ctx.plan.warmup_seconds, "configs": out}
