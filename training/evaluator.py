"""`dfd evaluate`'s two paths (a prepared dataset, or labelled media via the edge run time) and its report.

Labelled media with an exported model run on the base install: torch loads only
for a prepared dataset or a checkpoint, and matplotlib only for the plots.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console

from edge_model.crop import CropSpec
from edge_model.errors import DfdError
from edge_model.manifest import load_manifest
from edge_model.runner import ModelRunner
from edge_model.settings import PipelineSettings
from training.media_eval import evaluate_media, pipeline_settings
from training.metrics import summarize
from training.sources import discover, labelled_folder
from training.store import Dataset

TRAIN_EXTRA = "pip install -e '.[train]' (see the README for CPU-only PyTorch)"


def _torch():
    """torch, or one line saying which install brings it."""
    try:
        import torch
    except ImportError:
        raise DfdError(f"a prepared dataset or a checkpoint needs PyTorch, from the train extra: {TRAIN_EXTRA}") from None
    return torch


def _held_out(checkpoint: Path) -> set[str]:
    ck = _torch().load(checkpoint, map_location="cpu", weights_only=False)
    return set(ck["split"]["val_videos"])


def _dataset_curves(args: argparse.Namespace, console: Console) -> tuple[dict, float, dict]:
    torch = _torch()
    from torch.utils.data import DataLoader

    from training.scoring import onnx_predict, predict, video_scores
    from training.trainer import load_model
    from training.windows import WindowDataset, WindowSpec, collate

    data = Dataset(args.data)
    records = data.records()
    if args.checkpoint:
        model, ck = load_model(args.checkpoint, torch.device("cpu"))
        crop, window, cfg = CropSpec.from_dict(ck["crop"]), ck["window"], ck["config"]
        threshold, stride, temporal = 0.5, cfg["stride"], cfg["temporal_sbi"]
        val_ids = set(ck["split"]["val_videos"])
    else:
        manifest = load_manifest(args.model)
        crop, window, threshold, stride, temporal = manifest.crop, manifest.window, manifest.threshold, 1, 0.5
        val_ids = _held_out(args.holdout_of) if args.holdout_of else None
    if args.split == "val":
        if val_ids is None:
            raise DfdError("--split val with --model needs --holdout-of CHECKPOINT (or use --split all)")
        records = [r for r in records if r.video_id in val_ids]
    if not records:
        raise DfdError("no clips to evaluate")
    spec = WindowSpec(window, stride, crop.size, not args.no_sbi, temporal)
    dataset = WindowDataset(data, records, spec, None, 1, args.windows_per_clip, args.windows_per_clip)
    loader = DataLoader(dataset, batch_size=8, collate_fn=collate)
    console.print(f"scoring {len(records)} clips, {len(dataset)} items")
    if args.checkpoint:
        p = predict(model, loader, crop, torch.device("cpu"))
    else:
        p = onnx_predict(ModelRunner(args.model, threads=1), loader)
    vy, vs = video_scores(p, dataset)
    t = p.frame_p.shape[1]
    curves = {
        "frame": (np.repeat(p.labels, t), p.frame_p.reshape(-1)),
        "window": (p.labels, p.window_p),
        "video": (vy, vs),
    }
    return curves, threshold, {"clips": len(records), "items": len(dataset)}


def run_time_settings(args: argparse.Namespace) -> PipelineSettings:
    """--config's [model], [detector] and [tracker], with the flags over them: `dfd scan`'s settings."""
    flags = {"threads": args.threads, "precision": args.precision, "range": args.detector_range,
             "every": args.detect_every}
    return pipeline_settings(args.config, flags)


def _media_curves(args: argparse.Namespace, console: Console) -> tuple[dict, float, dict]:
    if not args.model:
        raise DfdError("labelled videos are scored through the edge run time: pass --model DIR (from `dfd export`)")
    settings = run_time_settings(args)  # a bad setting is said before any file is read
    items = discover(args.data) if args.data else []
    items += [it for f in args.real for it in labelled_folder(f, 0)]
    items += [it for f in args.fake for it in labelled_folder(f, 1)]
    if args.holdout_of:
        keep = _held_out(args.holdout_of)
        items = [it for it in items if it.label == 1 or it.video_id in keep]
    if not items:
        raise DfdError("no labelled videos or photos found (real_videos/, deepfake_videos/, real/, fake/, --real, --fake)")
    threshold = load_manifest(args.model).threshold
    console.print(f"scoring {len(items)} files ({sum(it.label for it in items)} fake) through the edge run time")
    scores = evaluate_media(items, str(args.model), args.fps or None, args.pad, args.max_frames,
                            settings, console)
    for s in scores.skipped:
        console.print(f"[yellow]skipped[/] {s}")
    if scores.insufficient:  # no track carried enough evidence: no verdict, and not in the video-level figures
        console.print(f"{len(scores.insufficient)} video(s) insufficient: {', '.join(scores.insufficient)}")
    curves = {lv: (np.asarray(d["y"], int), np.asarray(d["s"], float))
              for lv, d in (("frame", scores.frame), ("window", scores.window), ("video", scores.video))}
    return curves, threshold, {"files": scores.files, "skipped": scores.skipped,
                                     "insufficient": scores.insufficient, "n_insufficient": len(scores.insufficient)}


def evaluate(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    if bool(args.model) == bool(args.checkpoint):
        raise DfdError("give exactly one of --model DIR or --checkpoint FILE")
    is_dataset = args.data is not None and (args.data / "dataset.json").is_file()
    if args.checkpoint and not is_dataset:
        raise DfdError(f"--checkpoint needs a dataset folder from `dfd preprocess`, and {args.data} is not one")
    curves, threshold, detail = (_dataset_curves if is_dataset else _media_curves)(args, console)
    if args.threshold is not None:
        threshold = args.threshold
    report = {lv: summarize(y, s, threshold) for lv, (y, s) in curves.items() if len(y)}
    if not report:
        raise DfdError("no face was found in any file: nothing to score")
    args.out.mkdir(parents=True, exist_ok=True)
    full = {"threshold": threshold, "levels": report, "source": "dataset" if is_dataset else "media", "detail": detail}
    (args.out / "report.json").write_text(json.dumps(full, indent=2, default=float) + "\n")
    try:
        from training.plots import save_plots
    except ImportError:
        console.print("[yellow]no plots[/]: they need matplotlib (pip install matplotlib)")
    else:
        save_plots(args.out, curves, report)
    for lv, r in report.items():
        console.print(
            f"{lv:>6}: n={r['n']:<5} fake={r['n_fake']:<5} AUC {r['roc_auc']:.4f}  AP {r['average_precision']:.4f}  "
            f"EER {r['eer']:.4f}  acc {r['accuracy']:.3f}  P {r['precision']:.3f}  R {r['recall']:.3f}  "
            f"F1 {r['f1']:.3f}  @ {threshold:.3f}",
            soft_wrap=True,
        )
    console.print(f"report: {Path(args.out) / 'report.json'}")
    return 0


def evaluate_suite(args: argparse.Namespace) -> int:
    """`dfd evaluate DATASET --suite RUN`: every held-out set the model card reports (training/suite.py)."""
    from training.suite import SuiteOptions, run_suite

    if not args.model or args.checkpoint:
        raise DfdError("--suite scores an exported model through the run time: pass --model DIR, not --checkpoint")
    if args.threshold is not None or args.real or args.fake or args.holdout_of:
        raise DfdError("--suite takes its sets from RUN, --real-videos and --dev, at the model's calibrated threshold: "
                       "drop --threshold, --real, --fake and --holdout-of")
    if args.data is not None and not (args.data / "dataset.json").is_file():
        raise DfdError(f"--suite: DATA must be the prepared dataset the run trained on, and {args.data} is not one")
    console = Console(stderr=True)
    opts = SuiteOptions(
        model=args.model, out=args.out, run=args.suite, dataset=args.data, real_videos=args.real_videos, dev=args.dev,
        windows_per_clip=args.windows_per_clip, fps=args.fps or None, max_frames=args.max_frames, pad=args.pad,
        pipeline=run_time_settings(args), resamples=args.bootstrap, seed=args.seed,
    )
    report = run_suite(opts, console)
    for name, r in report["sets"].items():
        if "skipped" in r:
            console.print(f"{name:>20}: skipped ({r['skipped']})", soft_wrap=True)
            continue
        auc = "AUC –" if r["auc"] is None else f"AUC {r['auc']:.4f} [{r['auc_ci95'][0]:.4f}, {r['auc_ci95'][1]:.4f}]"
        fa = f"  {r['false_alarms_per_hour']:.2f} false alarms/h" if "false_alarms_per_hour" in r else ""
        console.print(f"{name:>20}: real {r['n_real']} fake {r['n_fake']}  {auc}  acc {r['accuracy']:.3f}  "
                      f"F1 {r['f1']:.3f}{fa}", soft_wrap=True)
    console.print(f"suite: {Path(args.out) / 'suite.json'}, {Path(args.out) / 'suite.md'}")
    return 0
