"""`dfd bench`: CPU benchmarks of the model, decoding, stream capacity, latency and memory.

Every figure is the median of several runs, with min and max, and every
section records the other load on the machine while it ran. The results go
to a JSON file and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import baseline, capacity, decode, latency, memory, model
from bench.context import Context, Plan, Skip
from bench.host import cpu_line, host_facts
from bench.load import LoadMonitor
from bench.report import write_markdown
from edge_model.errors import DfdError
from edge_model.manifest import ModelError, resolve_model_dir

HELP = """CPU benchmarks: model latency, decode speed, stream capacity, capture-to-alert latency, memory.

Writes results.json (or --out) and a Markdown table beside it. --quick takes
about two minutes; a full run takes about half an hour on two cores.
"""
SECTIONS: dict[str, ModuleType] = {
    "model": model,
    "decode": decode,
    "capacity": capacity,
    "latency": latency,
    "memory": memory,
    "baseline": baseline,
}
FORMAT = 1


class BenchError(DfdError):
    """A bad `dfd bench` argument."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="fewer, shorter runs (about two minutes)")
    p.add_argument("--only", metavar="LIST", default=",".join(SECTIONS),
                   help=f"comma-separated sections (default: all): {','.join(SECTIONS)}")
    p.add_argument("--out", metavar="JSON", default="results.json",
                   help="results file (default results.json); the Markdown table goes beside it")
    p.add_argument("--model", metavar="DIR", action="append", default=[],
                   help="model folder to measure; repeat it for each input size (default: the packaged model). "
                        "Streams run the first one.")
    p.add_argument("--runs", type=int, help="runs behind every figure (default 3 with --quick, else 5)")


def _sections(only: str) -> list[str]:
    names = [s.strip() for s in only.split(",") if s.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        raise BenchError(f"--only: unknown section {unknown[0] if unknown else '(none)'!r}; choose from {','.join(SECTIONS)}")
    return names


def _models(paths: list[str]) -> tuple[list[Path], str | None]:
    """The model folders to measure, or none and why."""
    if paths:
        for p in paths:
            resolve_model_dir(p)  # a bad folder is the user's error: one line, exit 2
        return [Path(p) for p in paths], None
    try:
        return [resolve_model_dir(None)], None
    except ModelError as exc:
        return [], str(exc)


def _run_section(name: str, ctx: Context, monitor: LoadMonitor) -> dict:
    module = SECTIONS[name]
    ctx.task = ctx.progress.add_task(name, total=module.steps(ctx))
    monitor.start_window()
    t0 = time.monotonic()
    entry: dict = {}
    try:
        entry = {"status": "ok", "result": module.run(ctx)}
    except Skip as exc:
        entry = {"status": "skipped", "note": str(exc)}
    except DfdError as exc:
        entry = {"status": "failed", "note": str(exc)}
    entry["seconds"] = round(time.monotonic() - t0, 1)
    entry["load"] = monitor.end_window()
    ctx.progress.update(ctx.task, completed=module.steps(ctx), description=f"{name}: {entry['status']}")
    return entry


def run(args: argparse.Namespace) -> int:
    names = _sections(args.only)
    if args.runs is not None and args.runs < 1:
        raise BenchError("--runs: must be at least 1")
    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise BenchError(f"--out: expected a .json file name, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    models, no_model = _models(args.model)
    plan = Plan.make(args.quick, args.runs)
    host = host_facts()
    results: dict = {
        "format": FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "options": {"only": names, "quick": plan.quick, "models": args.model},
        "quick": plan.quick,
        "runs": plan.runs,
        "watch_runs": plan.watch_runs,
        "host": host,
        "cpu_line": cpu_line(host),
        "models": [str(m) for m in models],
        "sections": {},
    }
    if no_model:
        results["notes"] = [no_model]
    console = Console(stderr=True)
    console.print(f"[bold]CPU:[/] {results['cpu_line']}", soft_wrap=True)  # which ISA ONNX Runtime runs on
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with tempfile.TemporaryDirectory(prefix="dfd-bench-") as tmp, LoadMonitor() as monitor, \
            Progress(*columns, console=console) as progress:
        ctx = Context(plan, models, Path(tmp), progress)
        for name in names:
            results["sections"][name] = _run_section(name, ctx, monitor)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    md = write_markdown(results, out.with_suffix(".md"))
    failed = [n for n, s in results["sections"].items() if s["status"] == "failed"]
    for n, s in results["sections"].items():
        if s["status"] != "ok":
            console.print(f"{n}: {s['status']}: {s['note']}", soft_wrap=True)
    console.print(f"wrote {out} and {md}")
    return DfdError.exit_code if failed else 0  # 2, as for any unusable input
