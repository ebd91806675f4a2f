"""From a checkpoint to a model folder the run time loads: ONNX, int8, parity, threshold, manifest."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from rich.console import Console
from torch.utils.data import DataLoader

from edge_model.crop import CropSpec, normalize
from edge_model.errors import DfdError
from edge_model.manifest import Manifest, load_manifest, write_manifest
from edge_model.runner import ModelRunner
from training.config import FLOAT_CONVS
from training.int8_tuning import TuningOptions, tune_for_int8
from training.metrics import roc_auc, threshold_for_false_alarms
from training.onnx_export import export_encoder, export_temporal, quantize_encoder
from training.scoring import Predictions, level_report, onnx_predict, predict
from training.splits import model_splits
from training.store import ClipRecord, Dataset
from training.trainer import load_model
from training.windows import WindowDataset, WindowSpec, collate


@dataclass
class ExportOptions:
    checkpoint: Path | None  # None for `dfd quantize`, which starts from a model folder
    out: Path
    dataset: Path | None = None
    target_fpr: float = 0.05
    max_auc_drop: float = 0.02
    max_p95_delta: float = 0.05  # 95th percentile of |p_int8 - p_fp32| over validation windows
    calibration_crops: int = 256
    float_convs: int = FLOAT_CONVS  # the first convolutions (and all before them) that stay float in the int8 encoder
    tuning: TuningOptions = field(default_factory=lambda: TuningOptions(steps=0))  # steps 0: quantize the fp32 weights
    precision: str = "int8"  # the run-time encoder: int8 (quantized, parity-bound) or fp32 (no int8 file)
    model_id: str | None = None
    batch: int = 8


def face_crops(data: Dataset, records: list[ClipRecord], crop: CropSpec, n: int, seed: int) -> np.ndarray:
    """n normalized face crops (N, 3, S, S) at the model's size, one face of a clip each, spread over many clips."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(records), size=min(n, max(len(records), 1) * 4), replace=len(records) < n)
    crops = []
    for i in picks[:n]:
        faces = data.load(records[int(i)].clip).faces
        face = np.asarray(faces[int(rng.integers(len(faces)))])
        if face.shape[0] != crop.size:
            face = cv2.resize(face, (crop.size, crop.size), interpolation=cv2.INTER_AREA)
        crops.append(face)
    return normalize(np.stack(crops), crop)


def calibration_batches(data: Dataset, records: list[ClipRecord], crop: CropSpec, n: int, seed: int) -> list[np.ndarray]:
    """Normalized real face crops at the model's size, spread over many clips."""
    x = face_crops(data, [r for r in records if r.label == 0], crop, n, seed)
    return [x[i : i + 32] for i in range(0, len(x), 32)]


def window_fps(data: Dataset, stride: int) -> float | None:
    """The frame rate of a training window's faces, which the run time's windows keep (edge_model TrackWindows):
    the dataset's extraction rate over the window stride; None where clips kept every frame of their source."""
    fps = data.meta().get("fps")
    return fps / stride if fps else None


def video_windows(data: Dataset, val: list[ClipRecord], wspec: WindowSpec, seed: int) -> WindowDataset | None:
    """Every window of the validation split's real videos, or None without any.

    The threshold is set on these, not on photos or crops: a false alarm is a live alert on a real video.
    """
    videos = [r for r in val if r.label == 0 and r.n_frames > 1 and not r.pair]
    if not videos:
        return None
    return WindowDataset(data, videos, replace(wspec, sbi=False), None, seed, max(r.n_frames for r in videos))


def parity(torch_p: Predictions, onnx_p: Predictions) -> dict:
    """AUCs and the spread of per-window moves: an AUC can hold while single windows flip sides."""
    dp = np.abs(torch_p.window_p - onnx_p.window_p)
    return {
        "p50_abs_dp": float(np.percentile(dp, 50)),
        "p95_abs_dp": float(np.percentile(dp, 95)),
        "max_abs_dp": float(np.max(dp)),
        "auc_torch": roc_auc(torch_p.labels, torch_p.window_p),
        "auc_onnx": roc_auc(onnx_p.labels, onnx_p.window_p),
    }


def parity_failure(check: dict, opts: ExportOptions) -> str | None:
    """One line naming every parity bound the run-time encoder broke, or None."""
    q = check[opts.precision]
    drop = q["auc_torch"] - q["auc_onnx"]
    broken = []
    if q["p95_abs_dp"] > opts.max_p95_delta:
        broken.append(
            f"p95 |p_{opts.precision} - p_fp32| {q['p95_abs_dp']:.4f} > {opts.max_p95_delta:g} "
            f"(p50 {q['p50_abs_dp']:.4f}, max {q['max_abs_dp']:.4f} over the validation windows)"
        )
    if not np.isnan(drop) and drop > opts.max_auc_drop:
        broken.append(f"validation AUC {q['auc_torch']:.4f} -> {q['auc_onnx']:.4f} (drop {drop:.4f} > {opts.max_auc_drop:g})")
    return f"{opts.precision} parity failed: {'; '.join(broken)}; no model was written to {opts.out}" if broken else None


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A fresh folder beside `out`, swapped in only if the block finishes: `out` never holds half a model."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield staging
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / out.name)
            staging.rename(out)
            shutil.rmtree(old)
        else:
            staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass
class Validation:
    """The validation split as the exporter scores it: the windows the parity bound and the threshold use."""

    data: Dataset
    train: list[ClipRecord]  # the calibration crops' clips: never the validation or the test split
    val: list[ClipRecord]
    spec: WindowSpec
    seed: int
    windows: WindowDataset
    loader: DataLoader


def validation(data: Dataset, records: list[ClipRecord], val_ids: set[str], test_ids: set[str],
               window: int, crop: CropSpec, cfg: dict, batch: int) -> Validation:
    val = [r for r in records if r.video_id in val_ids]
    if not val:
        raise DfdError("the model's validation videos are not in this dataset; pass the training --dataset")
    train = [r for r in records if r.video_id not in val_ids | test_ids]
    spec = WindowSpec(window, cfg["stride"], crop.size, True, cfg["temporal_sbi"])
    n = cfg["val_windows_per_clip"]
    windows = WindowDataset(data, val, spec, None, cfg["seed"] + 1, n, n)
    return Validation(data, train or val, val, spec, cfg["seed"], windows,
                      DataLoader(windows, batch_size=batch, collate_fn=collate))


def add_int8(out: Path, manifest: Manifest, v: Validation, opts: ExportOptions,
             console: Console) -> tuple[Predictions, dict | None]:
    """Quantize the folder's fp32 encoder (or its copy tuned for int8) into encoder.onnx, make it the run-time
    one, score the validation windows; returns their predictions and the tuning's report (None untuned)."""
    console.print(f"quantizing the encoder to int8 on {opts.calibration_crops} real crops "
                  f"(the first {opts.float_convs} convolutions stay float)")
    fp32, int8 = out / manifest.encoder_fp32, out / "encoder.onnx"
    calibration = calibration_batches(v.data, v.train, manifest.crop, opts.calibration_crops, v.seed)
    quantize_encoder(fp32, int8, calibration, opts.float_convs)
    tuning = None
    if opts.tuning.steps:
        console.print(f"tuning a copy of the fp32 encoder for int8 ({opts.tuning.steps} steps on "
                      f"{opts.tuning.crops} training crops)")
        tuned = out / "encoder_tuned.onnx"
        crops = face_crops(v.data, v.train, manifest.crop, opts.tuning.crops, v.seed + 3)
        tuning = tune_for_int8(fp32, int8, crops, tuned, opts.tuning, console.print)
        quantize_encoder(tuned, int8, calibration, opts.float_convs)
        tuned.unlink()
    manifest.encoder, manifest.encoder_precision = "encoder.onnx", "int8"
    write_manifest(out, manifest)
    console.print("scoring validation windows with the int8 encoder")
    return onnx_predict(ModelRunner(out, threads=1, precision="int8"), v.loader), tuning


def seal(out: Path, manifest: Manifest, v: Validation, run_p: Predictions, check: dict, opts: ExportOptions,
         console: Console, tuning: dict | None = None) -> dict:
    """Check the parity bounds, set the threshold on the run-time encoder's real video windows, write model.json
    (with the int8 tuning's report, where the int8 encoder was quantized from a tuned copy)."""
    failure = parity_failure(check, opts)
    if failure:
        raise DfdError(failure)
    videos = video_windows(v.data, v.val, v.spec, v.seed + 2)
    if videos is not None:
        real_windows = onnx_predict(ModelRunner(out, threads=1, precision=opts.precision),
                                    DataLoader(videos, batch_size=opts.batch, collate_fn=collate)).window_p
        calibrated_on = f"every window of the validation split's real videos ({len(real_windows)} windows)"
    else:
        real_windows = run_p.window_p[run_p.labels == 0]
        calibrated_on = f"the validation split's real windows, photos included: it holds no real video ({len(real_windows)})"
        console.print(f"[yellow]note[/] threshold set on {calibrated_on}")
    threshold = threshold_for_false_alarms(real_windows, opts.target_fpr)
    manifest.threshold = threshold
    manifest.metrics = {
        "validation": level_report(run_p, v.windows, threshold),
        "target_false_alarm_rate": opts.target_fpr,
        "threshold_calibrated_on": calibrated_on,
        "parity": check,
        "parity_bounds": {"max_p95_abs_dp": opts.max_p95_delta, "max_auc_drop": opts.max_auc_drop},
        "note": "validation = held-out identities' real windows and their self-blended twins (+ any deepfake clips); "
                "parity = |p_onnx - p_pytorch| per validation window (p50/p95/max) and the AUCs",
    }
    if opts.precision == "int8":
        manifest.metrics["int8"] = {"float_convs": opts.float_convs, "calibration_crops": opts.calibration_crops,
                                    "reference": check["int8"].get("reference", "pytorch")}
        if tuning is not None:
            manifest.metrics["int8"]["tuning"] = tuning
    write_manifest(out, manifest)
    drop = check[opts.precision]["auc_torch"] - check[opts.precision]["auc_onnx"]
    report = {"threshold": threshold, "parity": check, "auc_drop": drop, "validation": manifest.metrics["validation"]}
    (out / "export_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def export(opts: ExportOptions, console: Console) -> dict:
    device = torch.device("cpu")
    model, ck = load_model(opts.checkpoint, device)
    cfg = ck["config"]
    crop = CropSpec.from_dict(ck["crop"])
    data = Dataset(opts.dataset or cfg["dataset"])
    v = validation(data, data.records(), set(ck["split"]["val_videos"]), set(ck["split"].get("test_videos", [])),
                   ck["window"], crop, cfg, opts.batch)
    console.print(f"validation: {len(v.val)} clips, {len(v.windows)} items; scoring with PyTorch")
    torch_p = predict(model, v.loader, crop, device)

    with staged_folder(opts.out) as out:
        console.print("exporting ONNX")
        export_encoder(model, crop.size, out / "encoder_fp32.onnx")
        export_temporal(model, ck["window"], out / "temporal.onnx")
        manifest = Manifest(
            model_id=opts.model_id or f"dfd-{crop.size}px-t{ck['window']}-{dt.date.today():%Y%m%d}",
            crop=crop, window=ck["window"], hop=ck["hop"], feature_dim=model.encoder.dim, threshold=0.5,
            rnn=ck["model_config"]["rnn"], fps=window_fps(data, cfg["stride"]),
            encoder="encoder_fp32.onnx", encoder_fp32="encoder_fp32.onnx", encoder_precision="fp32", temporal="temporal.onnx",
            training={
                "command": ck["command"],
                "data": ck["data_summary"],
                "epochs": ck["epoch"],
                "best_epoch": ck["best_epoch"],
                "config": {k: value for k, value in cfg.items() if k not in ("dataset", "out")},
            },
        )
        write_manifest(out, manifest)
        console.print("scoring validation windows with the fp32 ONNX model")
        fp32_p = onnx_predict(ModelRunner(out, threads=1, precision="fp32"), v.loader)
        check = {"fp32": parity(torch_p, fp32_p)}
        run_p, tuning = fp32_p, None
        if opts.precision == "int8":
            run_p, tuning = add_int8(out, manifest, v, opts, console)
            check = {"int8": parity(torch_p, run_p)} | check
        return seal(out, manifest, v, run_p, check, opts, console, tuning)


def requantize(model_dir: Path, opts: ExportOptions, console: Console) -> dict:
    """Give an exported fp32 model folder an int8 encoder, without its checkpoint.

    The reference is the folder's fp32 ONNX encoder (its export held it to PyTorch within 1e-5); the
    validation split is the training run's, rebuilt from the dataset with the seed and fractions that
    model.json records, and checked against the split sizes it records.
    """
    manifest = load_manifest(model_dir)
    if not manifest.encoder_fp32:
        raise DfdError(f"{model_dir}: dfd quantize needs the model's fp32 encoder, and model.json names none")
    if opts.dataset is None:
        raise DfdError("dfd quantize needs the dataset the model was trained on (--dataset)")
    data = Dataset(opts.dataset)
    records = data.records()
    _, val, test = model_splits(records, manifest.training, manifest.model_id, opts.dataset)
    v = validation(data, records, {r.video_id for r in val}, {r.video_id for r in test}, manifest.window,
                   manifest.crop, manifest.training["config"], opts.batch)
    console.print(f"validation: {len(v.val)} clips, {len(v.windows)} items; scoring with the fp32 ONNX encoder")
    fp32_p = onnx_predict(ModelRunner(model_dir, threads=1, precision="fp32"), v.loader)
    with staged_folder(opts.out) as out:
        for name in manifest.files:
            shutil.copy2(model_dir / name, out / name)
        manifest.encoder, manifest.encoder_precision = manifest.encoder_fp32, "fp32"
        run_p, tuning = add_int8(out, manifest, v, opts, console)
        check = {"int8": parity(fp32_p, run_p) | {"reference": "fp32 onnx"},
                 "fp32": manifest.metrics.get("parity", {}).get("fp32", {})}
        return seal(out, manifest, v, run_p, check, replace(opts, precision="int8"), console, tuning)
