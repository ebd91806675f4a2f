"""Scores of a model on windows, and metrics at frame, window and video level.

Levels, the same for PyTorch and ONNX models:
- window: p(fake) of a window of T frames;
- frame: p(fake) of one frame alone, scored as a window of T copies of its
  embedding (what a photo is);
- video: the mean over each face track's windows, then the highest track of
  the video (the run time's `dfd scan` verdict). A self-blended twin counts
  as a video of its own.

Per source, for choosing epochs across a mixture: `fakes_auc` (the data's
own fakes against the reals of their pairs), `sbi_auc` and `swap_auc` (real
windows against their synthetic twins); `select_auc` is their mean.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch

from edge_model.crop import CropSpec
from training.augment import normalize_tensor
from training.metrics import roc_auc, summarize
from training.model import DeepfakeDetector
from training.windows import NONE, SBI, SWAP, WindowDataset


@dataclass
class Predictions:
    window_p: np.ndarray  # (N,)
    frame_p: np.ndarray  # (N, T)
    labels: np.ndarray  # (N,) 0 real, 1 fake
    item: np.ndarray  # (N,) the dataset item each window came from
    synthetic: np.ndarray  # (N,) bool: a synthetic twin
    twin: np.ndarray  # (N,) NONE, SBI or SWAP


def encode_plan(single: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Which of the B*T frames to encode, and for each of the B*T positions, its row among those.

    A one-frame window holds T copies of one crop: it is encoded once.
    """
    flat = np.arange(len(single) * t).reshape(-1, t)
    take = np.where(np.asarray(single)[:, None], flat[:, :1], flat)
    frames, rows = np.unique(take, return_inverse=True)
    return frames, rows.reshape(-1)


@torch.no_grad()
def predict(model: DeepfakeDetector, loader, crop: CropSpec, device: torch.device) -> Predictions:
    model.eval()
    out: dict[str, list] = defaultdict(list)
    for batch in loader:
        x = normalize_tensor(batch["clips"].to(device), crop)
        b, t = x.shape[:2]
        frames, rows = encode_plan(batch["single"].numpy(), t)
        faces = x.flatten(0, 1)[frames].contiguous(memory_format=torch.channels_last)
        emb = model.encoder(faces)[rows].view(b, t, -1)
        out["window_p"].append(torch.sigmoid(model.temporal(emb)).cpu())
        single = emb.reshape(b * t, 1, -1).expand(-1, t, -1)
        out["frame_p"].append(torch.sigmoid(model.temporal(single)).view(b, t).cpu())
        for k in ("labels", "index", "synthetic", "twin"):
            out[k].append(batch[k])
    cat = {k: torch.cat(v).numpy() for k, v in out.items()}
    return Predictions(cat["window_p"], cat["frame_p"], cat["labels"].astype(int), cat["index"], cat["synthetic"], cat["twin"])


@dataclass
class VideoScore:
    video_id: str
    label: int  # 1 for a synthetic twin
    synthetic: bool
    score: float  # the highest of the video's tracks' mean window scores


def video_table(p: Predictions, dataset: WindowDataset) -> list[VideoScore]:
    """One row per video (a synthetic twin is a video of its own), for metrics that need the video's id."""
    tracks: dict[tuple[str, int, bool, str], list[float]] = defaultdict(list)
    for score, item, synth, label in zip(p.window_p, p.item, p.synthetic, p.labels):
        r = dataset.records[dataset.refs[item].clips[0]]  # a pair's crops share their video id; labels part them
        tracks[(r.video_id, int(label), bool(synth), r.clip)].append(float(score))
    videos: dict[tuple[str, int, bool], float] = {}
    for (vid, label, synth, _), scores in tracks.items():
        key = (vid, label, synth)
        videos[key] = max(videos.get(key, 0.0), float(np.mean(scores)))
    return [VideoScore(vid, 1 if synth else label, synth, s) for (vid, label, synth), s in videos.items()]


def video_scores(p: Predictions, dataset: WindowDataset) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) per video: the highest of its tracks' mean window scores."""
    rows = video_table(p, dataset)
    return np.array([v.label for v in rows], int), np.array([v.score for v in rows])


def source_aucs(p: Predictions) -> dict:
    """Window AUC per source of fakes, each against the real windows of the same items."""
    out = {}
    for name, kind in (("fakes", NONE), ("sbi", SBI), ("swap", SWAP)):
        fake = (p.twin == kind) & (p.labels == 1)
        items = np.isin(p.item, p.item[fake])
        mask = items & (fake | ((p.twin == NONE) & (p.labels == 0)))
        out[f"{name}_auc"] = roc_auc(p.labels[mask], p.window_p[mask]) if fake.any() else float("nan")
    found = [v for v in out.values() if not np.isnan(v)]
    out["select_auc"] = float(np.mean(found)) if found else float("nan")
    return out


def window_metrics(p: Predictions, dataset: WindowDataset) -> dict:
    """The few numbers logged per epoch."""
    vy, vs = video_scores(p, dataset)
    t = p.frame_p.shape[1]
    return {
        **source_aucs(p),
        "window_auc": roc_auc(p.labels, p.window_p),
        "frame_auc": roc_auc(np.repeat(p.labels, t), p.frame_p.reshape(-1)),
        "video_auc": roc_auc(vy, vs),
        "real_mean_p": float(p.window_p[p.labels == 0].mean()) if (p.labels == 0).any() else float("nan"),
    }


def level_report(p: Predictions, dataset: WindowDataset, threshold: float) -> dict:
    """Every metric at every level, at the threshold."""
    vy, vs = video_scores(p, dataset)
    t = p.frame_p.shape[1]
    return {
        "frame": summarize(np.repeat(p.labels, t), p.frame_p.reshape(-1), threshold),
        "window": summarize(p.labels, p.window_p, threshold),
        "video": summarize(vy, vs, threshold),
    }


def onnx_predict(runner, loader) -> Predictions:
    """The same predictions through an exported model folder (edge_model's ModelRunner)."""
    out: dict[str, list] = defaultdict(list)
    for batch in loader:
        clips = batch["clips"].numpy()  # uint8 (B, T, 3, S, S)
        b, t = clips.shape[:2]
        frames, rows = encode_plan(batch["single"].numpy(), t)
        faces = clips.reshape(b * t, *clips.shape[2:])[frames].transpose(0, 2, 3, 1)
        emb = runner.encode(np.ascontiguousarray(faces))[rows].reshape(b, t, -1)
        out["window_p"].append(runner.score(emb))
        single = np.repeat(emb.reshape(b * t, 1, -1), t, axis=1)
        out["frame_p"].append(runner.score(single).reshape(b, t))
        for k in ("labels", "index", "synthetic", "twin"):
            out[k].append(batch[k].numpy())
    cat = {k: np.concatenate(v) for k, v in out.items()}
    return Predictions(cat["window_p"], cat["frame_p"], cat["labels"].astype(int), cat["index"], cat["synthetic"], cat["twin"])
