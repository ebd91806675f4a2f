"""The face-crop contract: the only code that turns (frame, box, keypoints) into model input.

Training data preparation and the live run time both call `crop_face` and
`normalize`; any second copy would let training and run time drift apart.

One affine warp (`edge_model.affine.warp_rgb`, bilinear, sampled as
`cv2.warpAffine` samples) does the square crop, the optional eye alignment and
the resize at once, so it costs one pass over the output pixels only. It is
NumPy, not OpenCV, so that a worker never loads OpenCV (42 MiB of RSS).
"""

from __future__ import annotations

import math

import numpy as np

from edge_model.affine import rotation_matrix, warp_rgb
from edge_model.crop_spec import CropSpec

# BlazeFace keypoint order (subject's right eye appears on the image's left).
RIGHT_EYE, LEFT_EYE, NOSE, MOUTH, RIGHT_EAR, LEFT_EAR = range(6)


def crop_transform(box: np.ndarray, keypoints: np.ndarray | None, spec: CropSpec) -> np.ndarray:
    """The 2x3 affine matrix that maps frame pixels to crop pixels.

    `box` is (x1, y1, x2, y2) in pixels; `keypoints` is (6, 2) in pixels or None.
    The matrix also maps keypoints into the crop, which self-blending needs for its masks.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    side = max(x2 - x1, y2 - y1, 1.0) * spec.margin
    angle = 0.0
    if spec.align and keypoints is not None and len(keypoints) > LEFT_EYE:
        dx, dy = keypoints[LEFT_EYE] - keypoints[RIGHT_EYE]
        angle = math.degrees(math.atan2(float(dy), float(dx)))
    scale = spec.size / side
    m = rotation_matrix((cx, cy), angle, scale)
    m[0, 2] += spec.size / 2.0 - cx
    m[1, 2] += spec.size / 2.0 - cy
    return m


def crop_face(
    frame_bgr: np.ndarray, box: np.ndarray, keypoints: np.ndarray | None, spec: CropSpec
) -> np.ndarray:
    """A square, optionally eye-aligned face crop: uint8 RGB, (size, size, 3)."""
    return warp_rgb(frame_bgr, crop_transform(box, keypoints, spec), spec.size)


def map_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    return pts @ m[:, :2].T.astype(np.float32) + m[:, 2].astype(np.float32)


def normalize(crops_rgb: np.ndarray, spec: CropSpec) -> np.ndarray:
    """uint8 RGB crops (N, H, W, 3) or (H, W, 3) -> float32 (N, 3, H, W), normalized."""
    batch = crops_rgb[None] if crops_rgb.ndim == 3 else crops_rgb
    shift = np.asarray(spec.mean, dtype=np.float32)[:, None, None] * 255.0
    scale = 1.0 / (np.asarray(spec.std, dtype=np.float32)[:, None, None] * 255.0)
    out = np.empty((batch.shape[0], 3, *batch.shape[1:3]), np.float32)
    out[...] = batch.transpose(0, 3, 1, 2)  # one pass: convert and lay out; then in place, no temporaries
    out -= shift  # 13x faster than (x - shift) / scale on a transposed copy (0.14 vs 1.9 ms, two 160 px crops)
    out *= scale
    return out
