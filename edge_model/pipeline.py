"""Per frame: detect (every k-th frame), track, crop, encode, and score the windows that are due.

The live worker, `dfd scan`, `dfd evaluate` and the benchmarks all build this
one pipeline with `build_pipeline` from the user's settings, so offline
numbers are the numbers of the live system.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_model.crop import CropSpec, crop_face
from edge_model.detector import FaceDetector
from edge_model.runner import ModelRunner, TrackWindows
from edge_model.settings import PipelineSettings
from edge_model.tracker import FaceTracker


@dataclass
class FaceResult:
    track_id: int
    box: np.ndarray
    keypoints: np.ndarray
    detector_score: float
    crop: np.ndarray  # uint8 RGB, the model's input before normalization


@dataclass
class WindowScore:
    track_id: int
    start_frame: int
    end_frame: int
    p_fake: float
    track_frames: int  # faces of the track up to this window
    face_score: float  # their mean detector score: with track_frames, whether the window is evidence


@dataclass
class FrameResult:
    frame_index: int
    faces: list[FaceResult]
    windows: list[WindowScore]
    ended: list[int]  # track ids that ended on this frame
    left_out: int = 0  # faces detected beyond max_faces on this frame: not tracked, not checked
    stage_s: dict[str, float] = field(default_factory=dict)  # seconds spent in detect, encode and score


def face_detector(settings: PipelineSettings) -> FaceDetector:
    return FaceDetector(settings.range, settings.min_score, settings.max_faces, settings.threads)


class FaceFinder:
    """Detect (on every k-th frame), track, and crop the faces seen: the run time's and preprocessing's one loop."""

    def __init__(self, detector: FaceDetector, settings: PipelineSettings, spec: CropSpec) -> None:
        self.detector = detector
        self.settings = settings
        self.spec = spec
        self.tracker = FaceTracker(settings.iou, settings.max_missed)
        self._frames_seen = 0
        self.left_out = 0  # faces beyond max_faces on the last frame searched

    def find(self, frame_bgr: np.ndarray, frame_index: int) -> tuple[list[FaceResult], list[int]]:
        """The faces seen on this frame, each cropped, and the ids of the tracks that ended on it."""
        run_detector = self._frames_seen % self.settings.every == 0
        self._frames_seen += 1
        found = self.detector.detect_all(frame_bgr) if run_detector else []
        detections = found[: self.detector.max_faces] if run_detector else None
        self.left_out = len(found) - len(detections or [])
        tracks, ended = self.tracker.update(detections, frame_index)
        faces = [
            FaceResult(t.id, t.box, t.keypoints, t.score, crop_face(frame_bgr, t.box, t.keypoints, self.spec))
            for t in tracks if t.missed == 0
        ]
        return faces, [t.id for t in ended]


class FacePipeline:
    """One stream's (or file's) pipeline: its own tracks and windows over shared, loaded models."""

    def __init__(self, runner: ModelRunner, detector: FaceDetector, settings: PipelineSettings) -> None:
        self.runner = runner
        self.finder = FaceFinder(detector, settings, runner.manifest.crop)
        m = runner.manifest
        self.windows = TrackWindows(m.window, m.hop, m.fps)

    def another(self) -> FacePipeline:
        """A pipeline for another stream or file: the same loaded models, tracks of its own."""
        return FacePipeline(self.runner, self.finder.detector, self.finder.settings)

    def process(self, frame_bgr: np.ndarray, frame_index: int, ts: float | None = None) -> FrameResult:
        """`ts`: the frame's time in seconds (media or capture time), which sets a window's stride (TrackWindows)."""
        return process_batch([(self, frame_bgr, frame_index, ts)])[0]

    def _windows_due(
        self, faces: list[FaceResult], embeddings: np.ndarray, frame_index: int, ts: float | None
    ) -> list[WindowScore]:
        due = [
            f.track_id for f, e in zip(faces, embeddings)
            if self.windows.push(f.track_id, e, frame_index, f.detector_score, ts)
        ]
        return self._score([self.windows.window_of(tid) + (tid,) for tid in due])

    def finish(self) -> list[WindowScore]:
        """End every open track (end of a file): short tracks still get one padded window."""
        return self._end_tracks([t.id for t in self.finder.tracker.active()])

    def _end_tracks(self, track_ids: list[int]) -> list[WindowScore]:
        min_len = max(2, self.runner.manifest.window // 2)
        partial = [(p + (tid,)) for tid in track_ids if (p := self.windows.partial(tid, min_len)) is not None]
        scored = self._score(partial)  # before the drop: a window carries its track's evidence
        for tid in track_ids:
            self.windows.drop(tid)
        return scored

    def _score(self, items: list[tuple[np.ndarray, int, int, int]]) -> list[WindowScore]:
        if not items:
            return []
        p = self.runner.score(np.stack([w for w, _, _, _ in items]))
        return [
            WindowScore(tid, s, e, float(pf), *self.windows.evidence(tid)) for (_, s, e, tid), pf in zip(items, p)
        ]


def process_batch(frames: list[tuple[FacePipeline, np.ndarray, int, float | None]]) -> list[FrameResult]:
    """Frames of several streams (pipeline, BGR frame, index, time in seconds or None): each searched by its own pipeline, and all
    their faces encoded in one batch, which costs less per face than one batch a frame.

    The pipelines must share one runner (`FacePipeline.another`), and each comes once (a stream's
    frames go in order, one per batch). The batch's encode time is shared out to its frames by their faces.
    """
    runner = frames[0][0].runner if frames else None
    if any(p.runner is not runner for p, *_ in frames):
        raise ValueError("process_batch: the pipelines of one batch must share their runner (another())")
    found, detect_s = [], []
    for pipeline, frame_bgr, frame_index, _ in frames:
        t0 = time.perf_counter()
        found.append(pipeline.finder.find(frame_bgr, frame_index))
        detect_s.append(time.perf_counter() - t0)  # detect: with track and crop
    crops = [f.crop for faces, _ in found for f in faces]
    t0 = time.perf_counter()
    embeddings = runner.encode(np.stack(crops)) if crops else None
    encode_s = time.perf_counter() - t0
    results, used = [], 0
    for (pipeline, _, frame_index, ts), (faces, ended), detect in zip(frames, found, detect_s):
        t0 = time.perf_counter()
        windows = pipeline._windows_due(faces, embeddings[used:used + len(faces)], frame_index, ts) if faces else []
        windows += pipeline._end_tracks(ended)
        encode = encode_s * len(faces) / len(crops) if crops else 0.0
        used += len(faces)
        stages = {"detect": detect, "encode": encode, "score": time.perf_counter() - t0}
        results.append(FrameResult(frame_index, faces, windows, ended, pipeline.finder.left_out, stages))
    return results


def build_pipeline(
    settings: PipelineSettings, model_dir: str | Path | None = None, runner_class: type[ModelRunner] = ModelRunner
) -> FacePipeline:
    """Load the model (None: the packaged default) and the face detector once; `another()` shares them."""
    runner = runner_class(model_dir, settings.threads, settings.precision)
    return FacePipeline(runner, face_detector(settings), settings)
