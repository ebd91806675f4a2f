"""Per-face cost of the model: encoder (int8 and fp32, 1 and 2 threads, batch 1, 2, 4 and 8), temporal head, face detector.

Crops go through `ModelRunner.encode`, so the normalization of the crop
contract is part of the figure, as it is in the live worker.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path

import numpy as np

from bench.clips import ClipSpec, first_frame
from bench.context import Context
from bench.measure import latency_figures
from edge_model.errors import DfdError
from edge_model.manifest import load_manifest
from edge_model.runner import ModelRunner

PRECISIONS = ("int8", "fp32")
THREADS = (1, 2)
BATCHES = (1, 2, 4, 8)  # 2 and 4: the choices for model.batch, a live worker's cross-stream batch
DETECTOR_RANGES = ("short", "full")


def steps(ctx: Context) -> int:
    return len(ctx.models) * (len(PRECISIONS) * len(THREADS) * len(BATCHES) + 1) + len(DETECTOR_RANGES)


def _encoder(ctx: Context, folder: Path) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    manifest = load_manifest(folder)
    for precision, threads, batch in product(PRECISIONS, THREADS, BATCHES):
        ctx.step(f"model: encoder {folder.name} {precision} {threads}t b{batch}")
        if precision not in manifest.encoders:  # say so and go on: no time under a name it doesn't have
            rows.append({"precision": precision, "threads": threads, "batch": batch,
                         "skipped": f"model {manifest.model_id} has no {precision} encoder"})
            continue
        runner = ModelRunner(folder, threads=threads, precision=precision)
        size = runner.manifest.crop.size
        crops = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
        figs = latency_figures(lambda r=runner, c=crops: r.encode(c), ctx.plan.runs, ctx.plan.iterations, per=batch)
        rows.append({"precision": precision, "threads": threads, "batch": batch,
                     "per_face_ms": {k: f.to_dict() for k, f in figs.items()}})
    return rows


def _ratios(rows: list[dict]) -> list[dict]:
    """int8 time / fp32 time for each (threads, batch): below 1 means int8 is faster."""
    by_key = {(r["precision"], r["threads"], r["batch"]): r for r in rows if "per_face_ms" in r}
    out = []
    for threads, batch in product(THREADS, BATCHES):
        i8, f32 = by_key.get(("int8", threads, batch)), by_key.get(("fp32", threads, batch))
        if i8 and f32:
            ratio = i8["per_face_ms"]["median"]["median"] / f32["per_face_ms"]["median"]["median"]
            out.append({"threads": threads, "batch": batch, "int8_over_fp32": round(ratio, 3)})
    return out


def _temporal(ctx: Context, folder: Path) -> dict:
    ctx.step(f"model: temporal head {folder.name}")
    runner = ModelRunner(folder, threads=1)
    m = runner.manifest
    window = np.random.default_rng(1).normal(0, 1, (1, m.window, m.feature_dim)).astype(np.float32)
    figs = latency_figures(lambda: runner.score(window), ctx.plan.runs, ctx.plan.iterations * 4)
    return {"window": m.window, "hop": m.hop, "feature_dim": m.feature_dim, "rnn": m.rnn,
            "per_window_ms": {k: f.to_dict() for k, f in figs.items()}}


def _detector(ctx: Context) -> dict:
    from edge_model.detector import FaceDetector

    frame = first_frame(ClipSpec(640, 480))
    out: dict = {"frame": "640x480", "face": "the astronaut portrait"}
    for r in DETECTOR_RANGES:
        ctx.step(f"model: face detector {r} range")
        det = FaceDetector(range=r, threads=1)
        found = len(det.detect(frame))
        figs = latency_figures(lambda d=det: d.detect(frame), ctx.plan.runs, ctx.plan.iterations * 2)
        out[r] = {"faces_found": found, "per_frame_ms": {k: f.to_dict() for k, f in figs.items()}}
    return out


def run(ctx: Context) -> dict:
    """Every model folder, then the face detector (which needs no model folder)."""
    models = []
    for folder in ctx.models:
        manifest = ModelRunner(folder, threads=1).manifest
        rows = _encoder(ctx, folder)
        models.append({
            "model_id": manifest.model_id, "folder": str(folder), "input_size": manifest.crop.size,
            "encoder": rows, "int8_over_fp32": _ratios(rows), "temporal": _temporal(ctx, folder),
        })
    result: dict = {"models": models}
    if not ctx.models:
        result["note"] = "no model folder measured: pass --model DIR (no default model is installed)"
    try:
        result["detector"] = _detector(ctx)
    except (DfdError, ImportError) as exc:  # the detector's ONNX files are converted on first use
        result["detector"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    return result

