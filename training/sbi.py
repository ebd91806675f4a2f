"""Self-blended fakes (SBI, Shiohara & Yamasaki 2022), spatial and temporal.

A real face is blended into a colour-, scale- and shift-jittered copy of
itself through a soft, randomly deformed face mask. The result has the seams
and colour mismatch of a face swap but no identity change, so a detector
trained on it learns blending artifacts instead of identities. The temporal
variant lets the jitter, mask and ratio drift and flicker from frame to frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from edge_model.blend import blend, deform_mask, hull_mask, keypoint_outline

RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Jitter:
    """How the source copy differs from the target face."""

    rgb_shift: tuple[float, float, float]
    brightness: float  # added, in 0..255 units
    contrast: float  # multiplied
    scale: float
    shift: tuple[float, float]  # fraction of the crop side
    sharpness: float  # < 0 blurs, > 0 sharpens
    ratio: float
    mask_seed: int


def sample_jitter(rng: np.random.Generator) -> Jitter:
    return Jitter(
        rgb_shift=tuple(rng.uniform(-20, 20, 3).tolist()),
        brightness=float(rng.uniform(-20, 20)),
        contrast=float(rng.uniform(0.85, 1.15)),
        scale=float(rng.uniform(0.93, 1.07)),
        shift=tuple(rng.uniform(-0.03, 0.03, 2).tolist()),
        sharpness=float(rng.choice([-1.0, 0.0, 1.0]) * rng.uniform(0.3, 1.0)),
        ratio=float(rng.choice(RATIOS)),
        mask_seed=int(rng.integers(1 << 31)),
    )


def drift(j: Jitter, rng: np.random.Generator, amount: float) -> Jitter:
    """The next frame's jitter in the temporal variant: a small random walk, a new mask."""
    return replace(
        j,
        rgb_shift=tuple((np.asarray(j.rgb_shift) + rng.normal(0, 4 * amount, 3)).tolist()),
        brightness=j.brightness + float(rng.normal(0, 4 * amount)),
        scale=float(np.clip(j.scale + rng.normal(0, 0.01 * amount), 0.9, 1.1)),
        shift=tuple((np.asarray(j.shift) + rng.normal(0, 0.006 * amount, 2)).tolist()),
        ratio=float(np.clip(j.ratio + rng.normal(0, 0.15 * amount), 0.2, 1.0)),
        mask_seed=int(rng.integers(1 << 31)),
    )


def jitter_source(face: np.ndarray, j: Jitter) -> np.ndarray:
    """The colour-, sharpness-, scale- and shift-jittered copy of a uint8 RGB face."""
    h, w = face.shape[:2]
    img = face.astype(np.float32)
    img = (img - 128.0) * j.contrast + 128.0 + j.brightness + np.asarray(j.rgb_shift, np.float32)
    if j.sharpness < 0:
        img = cv2.GaussianBlur(img, (0, 0), -j.sharpness * 1.5)
    elif j.sharpness > 0:
        img = img + j.sharpness * (img - cv2.GaussianBlur(img, (0, 0), 1.0))
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), 0.0, j.scale)
    m[:, 2] += (j.shift[0] * w, j.shift[1] * h)
    img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def face_outline(keypoints: np.ndarray, mesh: np.ndarray | None) -> np.ndarray:
    """The mask polygon: the face mesh's hull when stored, else the keypoint outline."""
    if mesh is not None and np.isfinite(mesh).all() and len(mesh) > 6:
        return mesh[:, :2]
    return keypoint_outline(keypoints)


def blend_frame(face: np.ndarray, outline: np.ndarray, j: Jitter, deform: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """One self-blended frame and the soft mask used (float32, (H, W))."""
    mask = deform_mask(hull_mask(outline, face.shape[:2]), np.random.default_rng(j.mask_seed), deform)
    return blend(face, jitter_source(face, j), mask, j.ratio), mask


def self_blend_clip(
    frames: np.ndarray,
    outlines: list[np.ndarray],
    rng: np.random.Generator,
    temporal: bool,
) -> np.ndarray:
    """A self-blended fake of a clip (T, S, S, 3).

    Spatial: one jitter and one mask shape for the whole clip (the mask follows
    the face). Temporal: jitter, mask and ratio change from frame to frame.
    """
    j = sample_jitter(rng)
    amount = float(rng.uniform(0.5, 2.0))
    out = np.empty_like(frames)
    for t, (face, outline) in enumerate(zip(frames, outlines)):
        if temporal and t:
            j = drift(j, rng, amount)
        out[t] = blend_frame(face, outline, j)[0]
    return out
