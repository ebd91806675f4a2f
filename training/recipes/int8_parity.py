"""Which convolutions to keep float in the int8 encoder: parity and speed per choice (issue 17).

For each --float-convs value, `dfd quantize`'s own code quantizes the model folder's fp32 encoder
into a scratch folder and scores the training run's validation windows with it; the table gives
|p_int8 - p_fp32| per window (p50/p95/max), the validation AUC, and the encoder's median time for
one face at one thread. Writes Markdown to stdout:
`python training/recipes/int8_parity.py edge_model/models/default --dataset DATASET > training/reports/int8_parity.md`
(`--float-convs` picks the counts; the default runs from all int8 to stages 1-5 float).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from bench.host import cpu_line, host_facts
from edge_model.manifest import ENCODER_INPUT, load_manifest
from edge_model.runner import make_session
from training.backbone import STAGES
from training.exporter import ExportOptions, requantize


def stage_ends() -> list[int]:
    """Float-convolution counts that end on a stage boundary: 1 (the stem), then the end of each stage
    (a block with expansion has three convolutions, the first stage's block two)."""
    ends = [1]
    for repeats, _, _, expand, _ in STAGES:
        ends.append(ends[-1] + repeats * (2 if expand == 1 else 3))
    return ends


CHOICES = (0, *stage_ends()[:6])  # all int8, the stem float, then up to stages 1-5 float


def what_stays_float(k: int) -> str:
    """The first k convolutions of EfficientNet-Lite0 in words: the stem, then whole stages."""
    if k == 0:
        return "nothing"
    ends = stage_ends()
    stages = sum(end <= k for end in ends[1:])
    left = k - ends[stages]
    words = "the stem" if stages == 0 else f"stem + stage{'s 1-' if stages > 1 else ' '}{stages}"
    return words + (f" + {left} convolutions of stage {stages + 1}" if left else "")


def ms_per_face(path: Path, size: int, runs: int = 200) -> float:
    session = make_session(path, threads=1)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
    for _ in range(10):
        session.run(None, {ENCODER_INPUT: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {ENCODER_INPUT: x})
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model", type=Path)
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--float-convs", type=int, nargs="+", default=list(CHOICES), help="the counts to try")
    args = ap.parse_args()
    manifest = load_manifest(args.model)
    quiet = Console(file=io.StringIO())
    print(f"# Int8 encoder: which convolutions stay float ({manifest.model_id})\n")
    print("Validation windows of the model's training run (not the test split); dp = p_int8 - p_fp32 per window.")
    print(f"Time: median of 200 runs, one face, one thread, batch 1, on {cpu_line(host_facts())}.\n")
    print("| float convolutions | what stays float | p50 abs dp | p95 abs dp | max abs dp | val AUC fp32 -> int8 | ms / face |")
    print("|---|---|---|---|---|---|---|")
    fp32_ms = ms_per_face(args.model / manifest.encoder_fp32, manifest.crop.size)
    for k in args.float_convs:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "m"
            opts = ExportOptions(None, out, args.dataset, target_fpr=manifest.metrics["target_false_alarm_rate"],
                                 max_auc_drop=1.0, max_p95_delta=1.0, float_convs=k)
            p = requantize(args.model, opts, quiet)["parity"]["int8"]
            ms = ms_per_face(out / "encoder.onnx", manifest.crop.size)
        print(f"| {k} | {what_stays_float(k)} | {p['p50_abs_dp']:.4f} | {p['p95_abs_dp']:.4f} | {p['max_abs_dp']:.4f} | "
              f"{p['auc_torch']:.4f} -> {p['auc_onnx']:.4f} | {ms:.2f} |", flush=True)
    print(f"| fp32 | everything | 0 | 0 | 0 | - | {fp32_ms:.2f} |")


if __name__ == "__main__":
    main()
