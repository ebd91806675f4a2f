"""Per frame: detect (every k-th frame), track, crop, encode, and score the windows that are due.

The live worker, `dfd scan` and `dfd evaluate` all run frames through this one
class, so offline numbers are the numbers of the live system.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_model.crop import crop_face
from edge_model.detector import FaceDetector
from edge_model.runner import ModelRunner, TrackWindows
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


class FacePipeline:
    def __init__(
        self,
        runner: ModelRunner,
        detector: FaceDetector,
        tracker: FaceTracker,
        detect_every: int = 1,
    ) -> None:
        self.runner = runner
        self.detector = detector
        self.tracker = tracker
        self.detect_every = detect_every
        m = runner.manifest
        self.windows = TrackWindows(m.window, m.hop)
        self._frames_seen = 0

    def process(self, frame_bgr: np.ndarray, frame_index: int) -> FrameResult:
        run_detector = self._frames_seen % self.detect_every == 0
        self._frames_seen += 1
        detections = self.detector.detect(frame_bgr) if run_detector else None
        tracks, ended = self.tracker.update(detections, frame_index)
        visible = [t for t in tracks if t.missed == 0]
        spec = self.runner.manifest.crop
        faces = [
            FaceResult(t.id, t.box, t.keypoints, t.score, crop_face(frame_bgr, t.box, t.keypoints, spec))
            for t in visible
        ]
        windows: list[WindowScore] = []
        if faces:
            embeddings = self.runner.encode(np.stack([f.crop for f in faces]))
            due = [
                f.track_id for f, e in zip(faces, embeddings)
                if self.windows.push(f.track_id, e, frame_index, f.detector_score)
            ]
            windows = self._score([self.windows.window_of(tid) + (tid,) for tid in due])
        windows += self._end_tracks([t.id for t in ended])
        return FrameResult(frame_index, faces, windows, [t.id for t in ended])

    def finish(self) -> list[WindowScore]:
        """End every open track (end of a file): short tracks still get one padded window."""
        return self._end_tracks([t.id for t in self.tracker.active()])

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
