"""The evaluation suite: every held-out set the model card reports, scored by one command.

Sets (a set whose data is absent is reported as skipped, with the reason):
- `dfdc_pairs`: the DFDC face-crop pairs of the run's test split (held out by
  `original`; never trained on, never used to pick epochs or the threshold);
- `self_blended`: the test split's real clips (photos and video tracks) and
  their self-blended twins;
- `dev_dfdc_crops`: `dev/dfdc_face_crops/{real,fake}`, through the edge run time;
- `dev_fake_clips`: `dev/fake_clips` against the test split's real videos,
  through the edge run time;
- `held_out_real_videos`: the test split's real videos alone: false alarms
  per hour of video and the share of windows above the threshold.

Every set reports n, the AUC with a bootstrap 95% CI over units (a video, or
a DFDC pair whose real and fake go together), and accuracy, precision,
recall and F1 at the model's calibrated threshold. A video's decision is the
live alert policy's verdict (`dfd scan`'s); a photo or a prepared clip has
no alert period, so its score against the threshold decides. The model card
quotes suite.json and suite.md, which this writes to --out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console

from edge_model.errors import DfdError
from edge_model.manifest import MANIFEST, Manifest, load_manifest
from edge_model.settings import PipelineSettings
from training.metrics import at_threshold, bootstrap_auc, roc_auc
from training.sources import MediaItem, discover, labelled_folder
from training.splits import model_splits
from training.store import ClipRecord, Dataset

SPLIT_FILE = "split.json"
DFDC_SOURCE = "dfdc_faces"  # the source of the prepared DFDC face-crop pairs
VIDEO_RULE = "video: the live alert policy's verdict (dfd scan)"
SCORE_RULE = "score >= threshold"


@dataclass
class SuiteOptions:
    model: Path
    out: Path
    run: Path  # the training run (RUN/split.json), the split file itself, or a model folder (its training record)
    dataset: Path | None = None  # the prepared dataset the run trained on
    real_videos: list[Path] = field(default_factory=list)  # folders the real videos were prepared from
    dev: Path | None = None  # holds dfdc_face_crops/ and fake_clips/
    windows_per_clip: int = 3
    fps: float | None = None
    max_frames: int = 0
    pad: float = 0.0  # dev DFDC crops: padding per side before detection (their crops are tight)
    pipeline: PipelineSettings = PipelineSettings()  # the run time's detector and tracker settings
    resamples: int = 1000
    seed: int = 0


@dataclass
class Unit:
    """One scored video, photo group, prepared clip or self-blended twin."""

    unit: str  # what the bootstrap draws together (a video; a DFDC pair)
    label: int  # 1 fake
    score: float | None  # None: no face, nothing to score
    fake: bool  # the decision at the threshold
    seconds: float = 0.0
    alerts: int = 0
    windows: int = 0
    windows_above: int = 0


@dataclass
class EvalSet:
    name: str
    what: str
    rule: str = SCORE_RULE
    units: list[Unit] = field(default_factory=list)
    skipped: str | None = None


def read_split(run: Path) -> dict:
    """RUN/split.json (or the file given): the video ids of the run's validation and test splits."""
    path = run / SPLIT_FILE if run.is_dir() else run
    if not path.is_file():
        raise FileNotFoundError(f"no {SPLIT_FILE} at {path}")
    split = json.loads(path.read_text(encoding="utf-8"))
    if not split.get("test_videos"):
        raise FileNotFoundError(f"{path} has no test split (a run from before test splits: retrain)")
    if set(split["test_videos"]) & set(split.get("val_videos", [])):
        raise DfdError(f"{path}: validation and test splits share videos")
    return split


# --- scoring: the prepared dataset (ONNX, as `dfd evaluate DATASET --model`) and raw media (edge run time)
def score_clips(opts: SuiteOptions, data: Dataset, records: list[ClipRecord], manifest: Manifest,
                sbi: bool, unit_of: dict[str, str]) -> list[Unit]:
    """Video-level units of prepared clips (with self-blended twins when `sbi`), decided by score."""
    from torch.utils.data import DataLoader

    from edge_model.runner import ModelRunner
    from training.scoring import onnx_predict, video_table
    from training.windows import WindowDataset, WindowSpec, collate

    spec = WindowSpec(manifest.window, 1, manifest.crop.size, sbi, 0.5)
    windows = WindowDataset(data, records, spec, None, 1, opts.windows_per_clip, opts.windows_per_clip)
    p = onnx_predict(ModelRunner(opts.model, threads=1), DataLoader(windows, batch_size=8, collate_fn=collate))
    return [Unit(unit_of[v.video_id], v.label, v.score, v.score >= manifest.threshold) for v in video_table(p, windows)]


def score_media(opts: SuiteOptions, items: list[MediaItem], pad: float, console: Console) -> list[Unit]:
    """Units of files scored through `edge_model.scan` (the code of `dfd scan`), one per video or photo group."""
    from training.media_eval import evaluate_media

    scores = evaluate_media(items, str(opts.model), opts.fps, pad, opts.max_frames, opts.pipeline, console)
    for s in scores.skipped:
        console.print(f"[yellow]skipped[/] {s}")
    threshold = load_manifest(opts.model).threshold
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for f in scores.files:
        groups[(f["unit"], f["label"])].append(f)
    units = []
    for (unit, label), files in groups.items():
        found = [f["score"] for f in files if f["score"] is not None]
        score = float(np.mean(found)) if found else None
        photos = all(f["photo"] for f in files)
        fake = (score is not None and score >= threshold) if photos else any(f["verdict"] == "fake" for f in files)
        units.append(Unit(unit, label, score, fake, sum(f["seconds"] for f in files), sum(f["alerts"] for f in files),
                          sum(f["windows"] for f in files), sum(f["windows_above"] for f in files)))
    return units


def held_out_videos(folders: list[Path], video_ids: set[str]) -> tuple[list[MediaItem], str | None]:
    """The real videos among `folders` whose ids are in the test split, matched as `--holdout-of` matches."""
    if not folders:
        return [], "no --real-videos folder given"
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        return [], f"folder not found: {', '.join(missing)}"
    found = {it.video_id: it for f in folders for it in discover(f) + labelled_folder(f, 0) if it.label == 0}
    items = [found[v] for v in sorted(video_ids) if v in found]
    if not items:
        return [], f"none of the test split's {len(video_ids)} real videos is under {', '.join(map(str, folders))}"
    return items, None


def model_split(model: Path, dataset: Path) -> dict:
    """A model folder's split, rebuilt from its dataset with what model.json records (as `dfd quantize` does)."""
    manifest = load_manifest(model)
    _, val, test = model_splits(Dataset(dataset).records(), manifest.training, manifest.model_id, dataset)
    cfg = manifest.training["config"]
    return {"seed": cfg["seed"], "val_fraction": cfg["val_fraction"], "test_fraction": cfg["test_fraction"],
            "val_videos": sorted({r.video_id for r in val}), "test_videos": sorted({r.video_id for r in test})}


def test_split(opts: SuiteOptions) -> tuple[Dataset | None, list[ClipRecord], dict, str | None]:
    """The dataset, its clips in the run's test split, the split's summary, and why there are none."""
    is_model = (opts.run / MANIFEST).is_file()
    if is_model and opts.dataset is None:
        return None, [], {}, "no prepared dataset given (DATA) to rebuild the model's split from"
    try:
        split = model_split(opts.run, opts.dataset) if is_model else read_split(opts.run)
    except FileNotFoundError as exc:
        return None, [], {}, str(exc)
    info = {"seed": split.get("seed"), "val_fraction": split.get("val_fraction"),
            "test_fraction": split.get("test_fraction"), "val_videos": len(split.get("val_videos", [])),
            "test_videos": len(split["test_videos"])}
    if opts.dataset is None:
        return None, [], info, "no prepared dataset given (DATA)"
    data = Dataset(opts.dataset)
    ids = set(split["test_videos"])
    test = [r for r in data.records() if r.video_id in ids]
    return data, test, info, None if test else f"none of the test split's videos is in {opts.dataset}"


# --- the sets
def build_sets(opts: SuiteOptions, console: Console) -> tuple[list[EvalSet], dict]:
    manifest = load_manifest(opts.model)
    sets = {
        "dfdc_pairs": EvalSet("dfdc_pairs", "DFDC face-crop pairs of the test split (held out by original)"),
        "self_blended": EvalSet("self_blended", "test split's real clips vs their self-blended twins"),
        "dev_dfdc_crops": EvalSet("dev_dfdc_crops", "dev/dfdc_face_crops (DFDC crops, grouped by video)"),
        "dev_fake_clips": EvalSet("dev_fake_clips", "dev/fake_clips vs the test split's real videos", VIDEO_RULE),
        "held_out_real_videos": EvalSet("held_out_real_videos", "test split's real videos (false alarms)", VIDEO_RULE),
    }
    data, test, split_info, no_data = test_split(opts)
    dfdc = [r for r in test if r.source == DFDC_SOURCE]
    if no_data:
        sets["dfdc_pairs"].skipped = no_data
    elif not dfdc:
        sets["dfdc_pairs"].skipped = f"no {DFDC_SOURCE} pairs in the test split"
    else:
        console.print(f"dfdc_pairs: {len(dfdc)} clips")
        sets["dfdc_pairs"].units = score_clips(opts, data, dfdc, manifest, False, {r.video_id: r.group for r in dfdc})

    real = [r for r in test if r.label == 0 and r.source != DFDC_SOURCE]
    if no_data:
        sets["self_blended"].skipped = no_data
    elif not real:
        sets["self_blended"].skipped = "no real clips in the test split"
    else:
        console.print(f"self_blended: {len(real)} real clips and their twins")
        sets["self_blended"].units = score_clips(opts, data, real, manifest, True, {r.video_id: r.video_id for r in real})

    crops = opts.dev / "dfdc_face_crops" if opts.dev else None
    if crops is None or not crops.is_dir():
        sets["dev_dfdc_crops"].skipped = "no --dev folder given" if crops is None else f"folder not found: {crops}"
    else:
        console.print(f"dev_dfdc_crops: {crops}")
        sets["dev_dfdc_crops"].units = score_media(opts, discover(crops), opts.pad, console)

    if no_data:
        reals, why = [], no_data
    else:
        video_ids = {r.video_id for r in test if r.label == 0 and r.n_frames > 1}
        reals, why = held_out_videos(opts.real_videos, video_ids) if video_ids else ([], "no real videos in the test split")
    real_units = score_media(opts, reals, 0.0, console) if reals else []
    sets["held_out_real_videos"].units = real_units
    sets["held_out_real_videos"].skipped = why

    clips = opts.dev / "fake_clips" if opts.dev else None
    if clips is None or not clips.is_dir():
        sets["dev_fake_clips"].skipped = "no --dev folder given" if clips is None else f"folder not found: {clips}"
    elif why:
        sets["dev_fake_clips"].skipped = f"no held-out real videos: {why}"
    else:
        console.print(f"dev_fake_clips: {clips} against {len(real_units)} held-out real videos")
        sets["dev_fake_clips"].units = score_media(opts, labelled_folder(clips, 1), 0.0, console) + real_units
    return list(sets.values()), split_info


def summarize_set(s: EvalSet, resamples: int, seed: int) -> dict:
    """n, AUC [95% CI] and the scores at the threshold of one set; false alarms where it has real video."""
    out: dict = {"what": s.what, "rule": s.rule}
    if s.skipped:
        return {**out, "skipped": s.skipped}
    scored = [u for u in s.units if u.score is not None]
    y = np.array([u.label for u in scored], int)
    score = np.array([u.score for u in scored], float)
    decided = np.array([u.fake for u in scored], float)  # decisions as 0/1 scores at a threshold of 0.5
    both = 0 < y.sum() < len(y)
    lo, hi = bootstrap_auc(y, score, [u.unit for u in scored], resamples, seed) if both else (None, None)
    m = at_threshold(y, decided, 0.5)
    out.update({
        "n_real": int((y == 0).sum()), "n_fake": int(y.sum()), "n_units": len({u.unit for u in scored}),
        "insufficient": len(s.units) - len(scored),
        "auc": roc_auc(y, score) if both else None, "auc_ci95": [lo, hi],
        **{k: m[k] for k in ("accuracy", "precision", "recall", "f1", "confusion")},
        "units": [{"unit": u.unit, "label": u.label, "score": u.score, "fake": u.fake} for u in s.units],
    })
    real = [u for u in s.units if u.label == 0 and u.seconds > 0]
    if real:
        hours = sum(u.seconds for u in real) / 3600
        windows = sum(u.windows for u in real)
        out.update({
            "real_hours": hours, "alerts": sum(u.alerts for u in real),
            "false_alarms_per_hour": sum(u.alerts for u in real) / hours,
            "windows": windows, "share_windows_above": sum(u.windows_above for u in real) / max(windows, 1),
        })
    return out


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "–" if x is None else format(x, fmt)


def markdown(report: dict) -> str:
    """The short table the model card quotes."""
    lines = [
        f"# Evaluation suite: {report['model']['id']}",
        "",
        f"Threshold {report['model']['threshold']:.4f} (calibrated on the validation split, not on these sets). "
        f"AUC 95% CI: {report['bootstrap']['resamples']} bootstrap resamples of units (videos; DFDC pairs), "
        f"seed {report['bootstrap']['seed']}.",
        "",
        "| set | what | n real / n fake | AUC [95% CI] | acc | precision | recall | F1 | false alarms / h | windows > threshold |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    skipped = []
    for name, r in report["sets"].items():
        if "skipped" in r:
            skipped.append(f"- `{name}` ({r['what']}): skipped, {r['skipped']}")
            continue
        auc = f"{_num(r['auc'])} [{_num(r['auc_ci95'][0])}, {_num(r['auc_ci95'][1])}]" if r["auc"] is not None else "–"
        has_fake = r["n_fake"] > 0
        counts = f"{r['n_real']} / {r['n_fake']}" + (f" (+{r['insufficient']} insufficient)" if r["insufficient"] else "")
        acc = _num(r["accuracy"] if r["n_real"] + r["n_fake"] else None)
        fa = f"{r['false_alarms_per_hour']:.2f} ({r['alerts']} in {r['real_hours']:.3f} h)" if "real_hours" in r else "–"
        share = _num(r.get("share_windows_above"))
        lines.append(
            f"| `{name}` | {r['what']} | {counts} | {auc} | {acc} | "
            f"{_num(r['precision'] if has_fake else None)} | {_num(r['recall'] if has_fake else None)} | "
            f"{_num(r['f1'] if has_fake else None)} | {fa} | {share} |"
        )
    lines += ["", "Decisions: a video's is the live alert policy's verdict (`dfd scan`); a photo's or a prepared "
              "clip's is its score against the threshold."]
    if skipped:
        lines += ["", *skipped]
    return "\n".join(lines) + "\n"


def _jsonable(x):
    """NaN and numpy numbers as JSON: null and plain numbers."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    return None if isinstance(x, float) and np.isnan(x) else x


def run_suite(opts: SuiteOptions, console: Console) -> dict:
    """Score every set, write suite.json and suite.md to opts.out, return the report."""
    manifest = load_manifest(opts.model)
    sets, split_info = build_sets(opts, console)
    report = _jsonable({
        "model": {"id": manifest.model_id, "threshold": manifest.threshold},
        "split": split_info,
        "bootstrap": {"resamples": opts.resamples, "seed": opts.seed, "level": 0.95, "method": "percentile"},
        "sets": {s.name: summarize_set(s, opts.resamples, opts.seed) for s in sets},
    })
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "suite.json").write_text(json.dumps(report, indent=2) + "\n")
    (opts.out / "suite.md").write_text(markdown(report))
    return report
