"""Peak RSS of each `dfd watch` process and of the whole tree, with one stream and with four.

Measured for the default config and for configs/low-end.toml (the path for a small box). The capacity
section's runs are reused when it made them; otherwise this section runs its own. The tree's total is
given as a sum of RSS (what `top` shows), as a sum of PSS, which counts shared pages
(libraries, the shared-memory ring) once, and as a sum of RSS less library pages, which the
page cache's folio sizes do not move (procfs.own_rss_kib).
"""

from __future__ import annotations

from collections import defaultdict

from bench.capacity import DEFAULT, WatchConfig, low_end, watch
from bench.context import Context, Skip
from bench.measure import Figure

STREAMS = (1, 4)
MIB = 1024.0


def _configs() -> list[WatchConfig]:
    return [c for c in (DEFAULT, low_end()) if c is not None]


def steps(ctx: Context) -> int:
    return len(_configs()) * len(STREAMS) * ctx.plan.watch_runs


def run(ctx: Context) -> dict:
    if not ctx.models:
        raise Skip("no model to stream with: pass --model DIR (no default model is installed)")
    out = []
    for cfg in _configs():
        for n in STREAMS:
            runs = ctx.watch_runs.get((cfg.name, n), [])[: ctx.plan.watch_runs]
            for i in range(len(runs), ctx.plan.watch_runs):
                ctx.step(f"memory: {cfg.name}, {n} stream(s), run {i + 1}")
                runs.append(watch(ctx, cfg, n))
            per_role: dict[str, list[float]] = defaultdict(list)
            for r in runs:
                largest: dict[str, float] = defaultdict(float)  # the largest process of each role in this run
                for mem in r.processes.values():
                    largest[mem.label] = max(largest[mem.label], mem.peak_rss_kib / MIB)
                for role, mib in largest.items():
                    per_role[role].append(mib)
            out.append({
                "config": cfg.name,
                "streams": n,
                "processes": {role: sum(m.label == role for m in runs[-1].processes.values()) for role in per_role},
                "per_role_mib": {role: Figure.of(v, "MiB").to_dict() for role, v in sorted(per_role.items())},
                "total_rss_mib": Figure.of([r.peak_total_rss_kib / MIB for r in runs], "MiB").to_dict(),
                "total_pss_mib": Figure.of([r.peak_total_pss_kib / MIB for r in runs], "MiB").to_dict(),
                "total_own_mib": Figure.of([r.peak_total_own_kib / MIB for r in runs], "MiB").to_dict(),
            })
    return {"runs": out}
