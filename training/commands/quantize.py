"""Give an exported fp32 model folder an int8 encoder, without its training checkpoint.

Quantizes the folder's fp32 encoder as `dfd export` does (static QDQ, per
channel; the first --float-convs convolutions stay float), holds it to the
fp32 encoder on the training run's validation windows (the split is rebuilt
from DATASET with the seed and fractions model.json records, and must match
the split sizes it records), recalibrates the threshold on the int8 encoder's
real video windows, and rewrites the folder only if every parity bound holds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands.export import add_int8_arguments, check_target_fpr, int8_options

HELP = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="a model folder written by `dfd export` (it keeps its fp32 encoder)")
    p.add_argument("--dataset", type=Path, required=True, help="the dataset the model was trained on (`dfd preprocess`)")
    p.add_argument("--out", type=Path, help="model folder to write (default: the model folder, replaced whole)")
    add_int8_arguments(p, target_fpr=None)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from edge_model.manifest import load_manifest
    from training.exporter import ExportOptions, requantize

    target_fpr = args.target_fpr
    if target_fpr is None:
        target_fpr = load_manifest(args.model).metrics.get("target_false_alarm_rate", 0.05)
    check_target_fpr(target_fpr)
    console = Console(stderr=True)
    out = args.out or args.model
    opts = ExportOptions(None, out, args.dataset, target_fpr=target_fpr, **int8_options(args))
    report = requantize(args.model, opts, console)
    p = report["parity"]["int8"]
    console.print(
        f"int8 encoder written to {out}: threshold {report['threshold']:.4f}; int8 vs fp32 |dp| p50/p95/max "
        f"{p['p50_abs_dp']:.4f}/{p['p95_abs_dp']:.4f}/{p['max_abs_dp']:.4f}, AUC {p['auc_torch']:.4f} -> {p['auc_onnx']:.4f}"
    )
    return 0
