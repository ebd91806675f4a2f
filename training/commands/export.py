"""Turn a training checkpoint into a model folder for the run time.

Exports the encoder and the temporal head to ONNX, quantizes the encoder to
static int8 (QDQ, per channel, calibrated on real face crops; the first
--float-convs convolutions stay float), checks int8 against PyTorch on the
validation windows (fails if the AUC drops by more than --max-auc-drop, or if
the 95th percentile of a window's |p_int8 - p_fp32| exceeds --max-p95-delta;
nothing is written then), calibrates the threshold for --target-fpr false
alarms on real validation windows, and writes model.json with the files' sha256.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.config import FLOAT_CONVS

HELP = __doc__


def add_int8_arguments(p: argparse.ArgumentParser, target_fpr: float | None) -> None:
    """The int8 and threshold options that `dfd export` and `dfd quantize` share."""
    p.add_argument("--target-fpr", type=float, default=target_fpr,
                   help="false-alarm rate on real windows" + (" (default: the model's)" if target_fpr is None else ""))
    p.add_argument("--max-auc-drop", type=float, default=0.02, help="int8 vs fp32 AUC drop that fails")
    p.add_argument("--max-p95-delta", type=float, default=0.05,
                   help="95th percentile of |p_int8 - p_fp32| over validation windows that fails")
    p.add_argument("--calibration-crops", type=int, default=256, help="real crops for int8 calibration")
    p.add_argument("--float-convs", type=int, default=FLOAT_CONVS,
                   help="the first convolutions that stay float in the int8 encoder (9: the stem and blocks 0-2)")
    p.add_argument("--tune-steps", type=int, default=0,
                   help="fine-tune a copy of the fp32 encoder this many steps with int8 rounding simulated, "
                        "and quantize that copy (0: quantize the fp32 weights as they are)")


def int8_options(args: argparse.Namespace) -> dict:
    """ExportOptions' int8 fields from the options add_int8_arguments adds."""
    from training.int8_tuning import TuningOptions

    if args.tune_steps < 0:
        from edge_model.errors import DfdError

        raise DfdError("--tune-steps must be 0 or more")
    return {"max_auc_drop": args.max_auc_drop, "max_p95_delta": args.max_p95_delta,
            "calibration_crops": args.calibration_crops, "float_convs": args.float_convs,
            "tuning": TuningOptions(steps=args.tune_steps)}


def check_target_fpr(value: float) -> None:
    from edge_model.errors import DfdError

    if not 0.0 < value < 1.0:
        raise DfdError("--target-fpr must be in (0, 1)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="best.pt from `dfd train`")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--dataset", type=Path, help="the training dataset (default: the path in the checkpoint)")
    add_int8_arguments(p, target_fpr=0.05)
    p.add_argument("--precision", choices=["int8", "fp32"], default="int8",
                   help="the run-time encoder: int8 (quantized; the parity bounds apply) or fp32 (no int8 encoder, "
                        "for a model whose int8 encoder fails them)")
    p.add_argument("--model-id", help="the model's name in model.json")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from training.exporter import ExportOptions, export

    check_target_fpr(args.target_fpr)
    console = Console(stderr=True)
    opts = ExportOptions(args.checkpoint, args.out, args.dataset, target_fpr=args.target_fpr,
                         model_id=args.model_id, precision=args.precision, **int8_options(args))
    report = export(opts, console)
    p = report["parity"][args.precision]
    w = report["validation"]["window"]
    console.print(
        f"exported to {args.out}: threshold {report['threshold']:.4f}; {args.precision} vs PyTorch |dp| "
        f"p50/p95/max {p['p50_abs_dp']:.4f}/{p['p95_abs_dp']:.4f}/{p['max_abs_dp']:.4f}, AUC {p['auc_torch']:.4f} -> {p['auc_onnx']:.4f}; "
        f"val window AUC {w['roc_auc']:.4f}, F1 {w['f1']:.3f} at the threshold"
    )
    return 0
