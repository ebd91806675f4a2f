"""Face tracks with stable ids: greedy IoU matching, a centre-distance fallback, and a
constant-velocity prediction.

The prediction is what keeps two crossing faces apart, and what lets the
detector run only every k-th frame: between detections a track's box moves
on at its recent speed. A few faces per frame make greedy matching as good as
Hungarian here, without a scipy dependency in the run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_model.detector import Detection, iou

# Fallback for a detection no track overlaps enough (a fast move, a box that
# changed size): its centre must lie within this fraction of the track's box
# size from the predicted centre, and its size within this ratio of the track's.
CENTRE_DISTANCE = 0.6
SIZE_RATIO = 2.0
# Weight of the newest motion in the velocity estimate; the rest is the old estimate.
VELOCITY_GAIN = 0.5


@dataclass
class Track:
    id: int
    box: np.ndarray  # (4,) float32 x1 y1 x2 y2 frame pixels: detected, or predicted if not seen
    keypoints: np.ndarray  # (6, 2) float32 frame pixels, moved with the box
    score: float  # the last matched detection's score
    hits: int  # frames with a matched detection
    missed: int  # detector runs since the last match (0: matched this frame)
    first_frame: int
    last_frame: int  # the last frame with a matched detection
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # px per frame
    box_frame: int = -1  # the frame that `box` is predicted for

    def centre(self) -> np.ndarray:
        return (self.box[:2] + self.box[2:]) / 2

    def predict(self, frame_index: int) -> None:
        """Move the box and keypoints on at the track's velocity up to `frame_index`."""
        shift = self.velocity * np.float32(frame_index - self.box_frame)
        self.box = self.box + np.tile(shift, 2)
        self.keypoints = self.keypoints + shift
        self.box_frame = frame_index

    def observe(self, det: Detection, frame_index: int) -> None:
        """Take a matched detection: update the velocity from the prediction's error."""
        centre = (det.box[:2] + det.box[2:]) / 2
        gain = 1.0 if self.hits == 1 else VELOCITY_GAIN  # the second sighting gives the first speed
        error = (centre - self.centre()) / np.float32(max(frame_index - self.last_frame, 1))
        self.velocity = (self.velocity + np.float32(gain) * error).astype(np.float32)
        self.box, self.keypoints, self.score = det.box.copy(), det.keypoints.copy(), det.score
        self.hits += 1
        self.missed = 0
        self.last_frame = frame_index


def _size(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1], 1e-6))


def match(
    tracks: list[Track], detections: list[Detection], min_iou: float
) -> list[tuple[int, int]]:
    """(track index, detection index) pairs: greedily by IoU, then by centre distance."""
    if not tracks or not detections:
        return []
    boxes = np.stack([d.box for d in detections])
    overlap = np.stack([iou(t.box, boxes) for t in tracks])
    pairs: list[tuple[int, int]] = []
    used_t: set[int] = set()
    used_d: set[int] = set()

    def take(candidates: list[tuple[float, int, int]]) -> None:
        for _, ti, di in sorted(candidates):
            if ti not in used_t and di not in used_d:
                pairs.append((ti, di))
                used_t.add(ti)
                used_d.add(di)

    take([(-overlap[ti, di], ti, di) for ti, di in zip(*np.nonzero(overlap >= min_iou))])
    fallback = []
    for ti, t in enumerate(tracks):
        for di, d in enumerate(detections):
            if ti in used_t or di in used_d:
                continue
            ratio = _size(d.box) / _size(t.box)
            dist = float(np.linalg.norm((d.box[:2] + d.box[2:]) / 2 - t.centre())) / _size(t.box)
            if dist < CENTRE_DISTANCE and 1 / SIZE_RATIO < ratio < SIZE_RATIO:
                fallback.append((dist, ti, di))
    take(fallback)
    return pairs


class FaceTracker:
    """Gives each face a stable id across frames; ends a track after `max_missed` detector
    runs in a row without a match (so with detect-every-k, after about k*max_missed frames)."""

    def __init__(self, iou: float = 0.3, max_missed: int = 8) -> None:
        self.iou = iou
        self.max_missed = max_missed
        self._tracks: list[Track] = []
        self._next_id = 1

    def active(self) -> list[Track]:
        """Tracks not yet ended, in order of their ids."""
        return list(self._tracks)

    def update(
        self, detections: list[Detection] | None, frame_index: int
    ) -> tuple[list[Track], list[Track]]:
        """Returns (tracks still open after this frame, tracks that ended on it).

        `detections=None` means the detector did not run on this frame: every track
        moves to its predicted box and none counts as missed. An open track with
        `missed > 0` was not seen this frame; its box is a prediction.
        """
        for t in self._tracks:
            t.predict(frame_index)
        if detections is None:
            return self.active(), []
        pairs = match(self._tracks, detections, self.iou)
        matched_t = {ti for ti, _ in pairs}
        matched_d = {di for _, di in pairs}
        for ti, di in pairs:
            self._tracks[ti].observe(detections[di], frame_index)
        for ti, t in enumerate(self._tracks):
            if ti not in matched_t:
                t.missed += 1
        ended = [t for t in self._tracks if t.missed > self.max_missed]
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for di, d in enumerate(detections):
            if di not in matched_d:
                self._tracks.append(self._start(d, frame_index))
        return self.active(), ended

    def _start(self, det: Detection, frame_index: int) -> Track:
        track = Track(
            id=self._next_id,
            box=det.box.copy(),
            keypoints=det.keypoints.copy(),
            score=det.score,
            hits=1,
            missed=0,
            first_frame=frame_index,
            last_frame=frame_index,
            box_frame=frame_index,
        )
        self._next_id += 1
        return track
