"""Evaluate an exported model on labelled videos and photos, through the edge run time.

Each file goes through `edge_model.scan.scan_frames` (detector, tracker,
crop, encoder, per-track windows, temporal head, and the live decision rule
at the model's threshold with the default levels), in the pipeline that
`edge_model.pipeline.build_pipeline` makes from the user's settings (the
[model], [detector] and [tracker] of a `dfd scan` config, and the same flags):
the numbers are those of `dfd scan` and the live system. A video's score and verdict are scan's; a
video that is `insufficient` (no track carried enough evidence) is listed as
such and left out of the video level. The runner also keeps every embedding it
computed, so the frame level costs one temporal pass per face and no second
encoding. A photo has no window, so its window score is its frame score, and
its video-level score is its best face's.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import numpy as np
from rich.console import Console
from rich.progress import Progress

from edge_model.decision import DecisionLevels
from edge_model.errors import DfdError
from edge_model.media import VideoError, is_image, read_frames, video_fps
from edge_model.pipeline import build_pipeline
from edge_model.runner import ModelRunner
from edge_model.scan import scan_frames
from edge_model.settings import PipelineSettings
from training.prepare import pad_frame
from training.sources import MediaItem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PIPELINE_SECTIONS = ("model", "detector", "tracker")  # the config's sections that edge_model.pipeline reads


def pipeline_settings(config: Path | None, overrides: dict[str, Any]) -> PipelineSettings:
    """The pipeline settings of a `dfd scan` config file, with the flags that were given over them."""
    values: dict[str, Any] = {}
    if config is not None:
        try:
            tree = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DfdError(f"config: {config}: {exc}") from None
        for section in PIPELINE_SECTIONS:
            values.update(tree.get(section, {}))
        values.pop("path", None)  # the model is --model's
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - {f.name for f in fields(PipelineSettings)})
    if unknown:
        raise DfdError(f"config: unknown key {unknown[0]!r} in [{'], ['.join(PIPELINE_SECTIONS)}]")
    try:
        return PipelineSettings(**values)
    except TypeError as exc:
        raise DfdError(f"config: {exc}") from None


class RecordingRunner(ModelRunner):
    """A ModelRunner that keeps the embeddings it computed, for frame-level scores."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.recorded: list[np.ndarray] = []

    def encode(self, crops_rgb: np.ndarray) -> np.ndarray:
        emb = super().encode(crops_rgb)
        self.recorded.append(emb)
        return emb

    def frame_scores(self) -> np.ndarray:
        """p(fake) of each recorded face alone: a window of T copies of its embedding."""
        if not self.recorded:
            return np.zeros(0, np.float32)
        emb = np.concatenate(self.recorded)
        windows = np.repeat(emb[:, None, :], self.manifest.window, axis=1)
        return np.concatenate([self.score(windows[i : i + 256]) for i in range(0, len(windows), 256)])


def covered_seconds(path: Path, last_index: int, fps: float) -> float:
    """Length of the stretch of a video that was scanned (0 for a photo): false alarms count per hour of it."""
    if is_image(path) or last_index < 0:
        return 0.0
    return (last_index + 1) / fps


class LastIndex:
    """Passes (frame number, frame) pairs through and remembers the last number, for the seconds covered."""

    def __init__(self, frames: Iterable[tuple[int, np.ndarray]]) -> None:
        self.frames = frames
        self.last = -1

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for index, frame in self.frames:
            self.last = index
            yield index, frame


def video_key(item: MediaItem) -> str:
    """Photos cut from one video (`<id>_<n>.jpg`) count as one video."""
    return re.sub(r"_\d+$", "", item.path.stem) if is_image(item.path) else item.video_id


@dataclass
class MediaScores:
    frame: dict[str, list] = field(default_factory=lambda: {"y": [], "s": []})
    window: dict[str, list] = field(default_factory=lambda: {"y": [], "s": []})
    video: dict[str, list] = field(default_factory=lambda: {"y": [], "s": []})
    files: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    insufficient: list[str] = field(default_factory=list)  # videos without a deciding track: not in `video`


def evaluate_media(
    items: list[MediaItem],
    model_dir: str,
    fps: float | None,
    pad: float,
    max_frames: int,
    settings: PipelineSettings,
    console: Console,
) -> MediaScores:
    models = build_pipeline(settings, model_dir, RecordingRunner)
    runner = cast(RecordingRunner, models.runner)
    levels = DecisionLevels(runner.manifest.threshold)
    out = MediaScores()
    per_video: dict[tuple[str, int], list[float]] = defaultdict(list)
    with Progress(console=console) as progress:
        task = progress.add_task("evaluate", total=len(items))
        for item in items:
            runner.recorded.clear()
            pipeline = models.another()
            try:
                frames = read_frames(item.path, fps=fps, max_frames=max_frames or None)
                if pad:
                    frames = ((i, pad_frame(f, pad)) for i, f in frames)
                counted = LastIndex(frames)
                report = scan_frames(counted, pipeline, levels, video_fps(item.path), video=item.path.name)
                seconds = covered_seconds(item.path, counted.last, report.fps)
            except VideoError as exc:
                out.skipped.append(str(exc))
                progress.advance(task)
                continue
            frame_p = runner.frame_scores()
            window_p = [w["p_fake"] for t in report.tracks for w in t.windows]
            verdict: str | None = report.verdict
            score = report.score
            if is_image(item.path):
                window_p = frame_p.tolist()
                verdict, score = None, (float(max(frame_p)) if len(frame_p) else None)
            elif verdict == "insufficient":
                out.insufficient.append(item.path.name)
            out.frame["y"] += [item.label] * len(frame_p)
            out.frame["s"] += frame_p.tolist()
            out.window["y"] += [item.label] * len(window_p)
            out.window["s"] += window_p
            if score is not None:
                per_video[(video_key(item), item.label)].append(score)
            out.files.append({
                "name": item.path.name, "unit": video_key(item), "label": item.label, "score": score,
                "verdict": verdict, "alerts": sum(len(t.alerts) for t in report.tracks),
                "seconds": seconds, "faces": len(frame_p), "windows": len(window_p),
                "windows_above": sum(p >= report.threshold for p in window_p), "photo": is_image(item.path),
            })
            progress.advance(task)
    for (_, label), scores in per_video.items():
        out.video["y"].append(label)
        out.video["s"].append(float(np.mean(scores)))
    return out
