"""Latency from a frame's capture to its window's score, and to the alert record written for it.

The policy is set to alert on every face track (the on-level is almost 0,
no minimum duration), and the face leaves the clip for a second every few
seconds, so each visit makes a new track and a new alert. The moment a
record is written is when the benchmark first sees it in the SQLite
database, polled every 20 ms.
"""

from __future__ import annotations

from pathlib import Path

from bench.capacity import FPS
from bench.clips import ClipSpec, clip
from bench.context import Context, Skip
from bench.measure import Figure, percentile
from bench.watch import POLL_S, WatchRun, run_watch

STREAMS = 2
ALERT_EVERYTHING = """# dfd bench: alert on every face track, at once, and often, to time alerts.
[policy]
on = 0.000001
off_margin = 0.0
min_duration_s = 0.0
min_track_frames = 1
end_after_s = 0.3
cooldown_s = 0.0
update_every_s = 0.5
"""


def steps(ctx: Context) -> int:
    return ctx.plan.watch_runs


def delays(run: WatchRun, warmup_s: float) -> dict[str, list[float]]:
    """ms from capture to: score published, alert event published, alert record written."""
    start = run.started + warmup_s
    score = [1000 * (e["ts"] - e["frame_ts"]) for e in run.of_type("score") if e["frame_ts"] >= start]
    alert = [1000 * (e["ts"] - e["frame_ts"]) for e in run.of_type("alert") if e["frame_ts"] >= start]
    record = [1000 * (seen - frame_ts) for (_, _, frame_ts), seen in run.records_seen.items() if frame_ts >= start]
    return {"score published": score, "alert event published": alert, "alert record written": record}


def run(ctx: Context) -> dict:
    if not ctx.models:
        raise Skip("no model to stream with: pass --model DIR (no default model is installed)")
    config = ctx.workdir / "alert-everything.toml"
    config.write_text(ALERT_EVERYTHING, encoding="utf-8")
    source: Path = clip(ctx.workdir, ClipSpec(640, 480, seconds=8.0, fps=FPS, face_gap_every_s=4.0))
    per_run: dict[str, dict[str, list[float]]] = {}
    counts: dict[str, int] = {}
    for i in range(ctx.plan.watch_runs):
        ctx.step(f"latency: run {i + 1} of {ctx.plan.watch_runs}")
        watch = run_watch([source] * STREAMS, config, ctx.plan.watch_seconds, ctx.workdir,
                          model=ctx.models[0], poll_db=True)
        for path, ms in delays(watch, ctx.plan.warmup_seconds).items():
            counts[path] = len(ms)
            if ms:
                for q in (50, 95, 99):
                    per_run.setdefault(path, {}).setdefault(f"p{q}", []).append(percentile(ms, q))
    paths = {
        path: {"samples": counts[path], **{k: Figure.of(v, "ms").to_dict() for k, v in qs.items()}}
        for path, qs in per_run.items()
    }
    missing = [p for p, n in counts.items() if n == 0]
    result = {"streams": STREAMS, "db_poll_ms": POLL_S * 1000, "paths": paths}
    if missing:
        result["note"] = f"no samples for: {', '.join(missing)}"
    return result

