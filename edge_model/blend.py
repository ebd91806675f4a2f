"""Blending one face image into another through a soft mask (numpy/opencv only).

Training uses it for self-blended fakes (a face blended into a jittered copy of
itself) and the demo for its manipulated stream, so both make the same kind of
seam. Outside the mask the result is the background, pixel for pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_model.crop import LEFT_EAR, LEFT_EYE, MOUTH, NOSE, RIGHT_EAR, RIGHT_EYE


def keypoint_outline(keypoints: np.ndarray) -> np.ndarray:
    """A face outline (N, 2) from BlazeFace's 6 keypoints, for when no face mesh is at hand.

    The keypoints stop at the mouth and the brows, so the outline is stretched
    down to an estimated chin and up to the forehead along the eyes-to-mouth axis.
    """
    kp = np.asarray(keypoints, np.float32).reshape(6, 2)
    eyes = (kp[RIGHT_EYE] + kp[LEFT_EYE]) / 2.0
    down = kp[MOUTH] - eyes
    across = (kp[LEFT_EYE] - kp[RIGHT_EYE]) * 0.9
    chin = kp[MOUTH] + down * 0.8
    brow = eyes - down * 0.6
    ears = kp[[RIGHT_EAR, LEFT_EAR]]
    return np.stack(
        [
            brow - across, brow, brow + across,
            ears[1], kp[MOUTH] + across, chin, kp[MOUTH] - across, ears[0],
            kp[NOSE],
        ]
    ).astype(np.float32)


def hull_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """float32 (H, W) mask, 1 inside the convex hull of `points` (x, y in pixels), else 0."""
    mask = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(np.asarray(points)[:, :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(np.float32)


def deform_mask(
    mask: np.ndarray, rng: np.random.Generator, strength: float = 1.0, feather: float | None = None
) -> np.ndarray:
    """A randomly resized, elastically warped and feathered copy of a hard mask.

    The random shape and soft edge keep a detector from learning one seam.
    `strength` 0 only feathers. `feather` is the edge's blur sigma as a
    fraction of the mask's shorter side; None draws it (0.02..0.08).
    """
    h, w = mask.shape
    out = mask.astype(np.float32)
    if strength > 0:
        grid = max(2, int(rng.integers(3, 6)))
        amp = strength * 0.04 * min(h, w)
        coarse = rng.uniform(-amp, amp, size=(2, grid, grid)).astype(np.float32)
        dx, dy = (cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in coarse)
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        out = cv2.remap(out, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=0)
        k = 1 + 2 * int(rng.integers(1, max(2, int(0.04 * min(h, w) * strength) + 2)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        out = cv2.erode(out, kernel) if rng.random() < 0.5 else cv2.dilate(out, kernel)
    sigma = (float(rng.uniform(0.02, 0.08)) if feather is None else feather) * min(h, w)
    out = cv2.GaussianBlur(out, (0, 0), sigma) if sigma > 0.3 else out
    peak = float(out.max())
    if peak > 0:
        out = out / peak
    out[out < 1e-3] = 0.0  # a true zero outside, so the blend leaves those pixels alone
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def blend(background: np.ndarray, foreground: np.ndarray, mask: np.ndarray, ratio: float = 1.0) -> np.ndarray:
    """uint8 `mask * ratio * foreground + (1 - mask * ratio) * background`.

    Where the mask is 0 the background comes back unchanged.
    """
    alpha = (np.asarray(mask, np.float32) * float(ratio))[..., None]
    bg = background.astype(np.float32)
    out = bg + alpha * (foreground.astype(np.float32) - bg)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    keep = alpha[..., 0] <= 0
    out[keep] = background[keep]
    return out
