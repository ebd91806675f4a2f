"""Scores of a model on windows, and metrics at frame, window and video level.

Levels, the same for PyTorch and ONNX models:
- window: p(fake) of a window of T frames;
- frame: p(fake) of one frame alone, scored as a window of T copies of its
  embedding (what a photo is);
- video: the mean over each face track's windows, then the highest track of
  the video (the run time's `dfd scan` verdict). A self-blended twin counts
  as a video of its own.
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
from training.windows import WindowDataset


@dataclass
class Predictions:
    window_p: np.ndarray  # (N,)
    frame_p: np.ndarray  # (N, T)
    labels: np.ndarray  # (N,) 0 real, 1 fake
    item: np.ndarray  # (N,) the dataset item each window came from
    synthetic: np.ndarray  # (N,) bool: a self-blended twin


@torch.no_grad()
def predict(model: DeepfakeDetector, loader, crop: CropSpec, device: torch.device) -> Predictions:
    model.eval()
    out: dict[str, list] = defaultdict(list)
    for batch in loader:
        x = normalize_tensor(batch["clips"].to(device), crop)
        b, t = x.shape[:2]
        emb = model.encoder(x.flatten(0, 1)).view(b, t, -1)
        out["window_p"].append(torch.sigmoid(model.temporal(emb)).cpu())
        single = emb.reshape(b * t, 1, -1).expand(-1, t, -1)
        out["frame_p"].append(torch.sigmoid(model.temporal(single)).view(b, t).cpu())
        for k in ("labels", "index", "synthetic"):
            out[k].append(batch[k])
    cat = {k: torch.cat(v).numpy() for k, v in out.items()}
    return Predictions(cat["window_p"], cat["frame_p"], cat["labels"].astype(int), cat["index"], cat["synthetic"])


@dataclass
class VideoScore:
    video_id: str
    label: int  # 1 for a self-blended twin
    synthetic: bool
    score: float  # the highest of the video's tracks' mean window scores


def video_table(p: Predictions, dataset: WindowDataset) -> list[VideoScore]:
    """One row per video (a self-blended twin is a video of its own), for metrics that need the video's id."""
    tracks: dict[tuple[str, int, bool, str], list[float]] = defaultdict(list)
    for score, item, synth in zip(p.window_p, p.item, p.synthetic):
        r = dataset.records[dataset.refs[item].clip]
        tracks[(r.video_id, r.label, bool(synth), r.clip)].append(float(score))
    videos: dict[tuple[str, int, bool], float] = {}
    for (vid, label, synth, _), scores in tracks.items():
        key = (vid, label, synth)
        videos[key] = max(videos.get(key, 0.0), float(np.mean(scores)))
    return [VideoScore(vid, 1 if synth else label, synth, s) for (vid, label, synth), s in videos.items()]


def video_scores(p: Predictions, dataset: WindowDataset) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) per video: the highest of its tracks' mean window scores."""
    rows = video_table(p, dataset)
    return np.array([v.label for v in rows], int), np.array([v.score for v in rows])


def window_metrics(p: Predictions, dataset: WindowDataset) -> dict:
    """The few numbers logged per epoch."""
    vy, vs = video_scores(p, dataset)
    t = p.frame_p.shape[1]
    return {
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
        emb = runner.encode(np.ascontiguousarray(clips.reshape(b * t, *clips.shape[2:]).transpose(0, 2, 3, 1)))
        emb = emb.reshape(b, t, -1)
        out["window_p"].append(runner.score(emb))
        single = np.repeat(emb.reshape(b * t, 1, -1), t, axis=1)
        out["frame_p"].append(runner.score(single).reshape(b, t))
        for k in ("labels", "index", "synthetic"):
            out[k].append(batch[k].numpy())
    cat = {k: np.concatenate(v) for k, v in out.items()}
    return Predictions(cat["window_p"], cat["frame_p"], cat["labels"].astype(int), cat["index"], cat["synthetic"])
