"""Evaluate a model: accuracy, precision, recall, F1, ROC AUC, AP and EER at frame, window and video level.

Two inputs:
- a dataset folder from `dfd preprocess`, scored with a checkpoint (PyTorch)
  or an exported model folder; `--split val` keeps the checkpoint's held-out
  identities, and real clips get self-blended twins as fakes (`--no-sbi` off);
- a folder of labelled videos/photos (real_videos/, deepfake_videos/, real/,
  fake/, FF++ or DFDC, or --real/--fake folders), scored with an exported
  model through the edge run time, exactly as `dfd scan` scores them.

Writes report.json, roc.png, pr.png and confusion.png to --out.

`--suite RUN` runs the evaluation suite instead (training/suite.py): every
held-out set of the run's test split (RUN/split.json) and the dev sets,
each with n, AUC [bootstrap 95% CI], accuracy, precision, recall and F1 at
the model's threshold, and false alarms per hour of held-out real video.
DATA is then the prepared dataset the run trained on. Writes suite.json and
suite.md to --out; a set whose data is absent is reported as skipped.

    dfd evaluate DATASET --suite RUN --model MODEL --real-videos VIDEOS --dev DEV --out SUITE
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = __doc__


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, nargs="?", help="dataset folder, or folder of labelled videos")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--model", type=Path, help="exported model folder (edge run time)")
    p.add_argument("--checkpoint", type=Path, help="PyTorch checkpoint (dataset folders only)")
    p.add_argument("--threshold", type=float, help="decision threshold (default: the model's calibrated one, else 0.5)")
    p.add_argument("--split", choices=["val", "all"], default="val", help="dataset clips to score")
    p.add_argument("--no-sbi", action="store_true", help="dataset mode: no self-blended twins of real clips")
    p.add_argument("--windows-per-clip", type=int, default=3, help="dataset mode")
    p.add_argument("--real", type=Path, action="append", default=[], help="a folder of real videos/photos")
    p.add_argument("--fake", type=Path, action="append", default=[], help="a folder of fake videos/photos")
    p.add_argument("--holdout-of", type=Path, help="keep only real files held out by this checkpoint's split")
    p.add_argument("--fps", type=float, default=0.0, help="videos: frames per second to score (0: all)")
    p.add_argument("--max-frames", type=int, default=0, help="videos: frames per file at most (0: all)")
    p.add_argument("--pad", type=float, default=0.0, help="pad each frame by this fraction per side (tight crops)")
    run_time = p.add_argument_group("run time (as in `dfd scan`)")
    run_time.add_argument("--config", type=Path, metavar="TOML",
                          help="a `dfd scan` config: its [model], [detector] and [tracker] settings")
    run_time.add_argument("--threads", type=int, help="onnxruntime threads")
    run_time.add_argument("--precision", help="encoder precision: int8 or fp32")
    run_time.add_argument("--detector-range", dest="detector_range", help="auto, short or full")
    run_time.add_argument("--detect-every", dest="detect_every", type=int, help="detect every k-th frame")
    suite = p.add_argument_group("evaluation suite")
    suite.add_argument("--suite", type=Path, metavar="RUN",
                       help="run the suite on RUN's test split (RUN/split.json); RUN may be a model folder, whose "
                            "model.json's training record rebuilds the split from DATA")
    suite.add_argument("--real-videos", type=Path, action="append", default=[],
                       help="a folder the run's real videos were prepared from (repeatable)")
    suite.add_argument("--dev", type=Path, help="the dev folder: dfdc_face_crops/{real,fake}/ and fake_clips/")
    suite.add_argument("--bootstrap", type=int, default=1000, help="resamples for the AUC's 95%% CI")
    suite.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")


def run(args: argparse.Namespace) -> int:
    if args.suite:
        from training.evaluator import evaluate_suite

        return evaluate_suite(args)
    from edge_model.errors import DfdError
    from training.evaluator import evaluate

    if args.real_videos or args.dev:
        raise DfdError("--real-videos and --dev belong to --suite RUN")
    return evaluate(args)
