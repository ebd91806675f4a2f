"""The built-in demo: two live streams made on the fly from a public-domain portrait.

The portrait is demo_assets/astronaut.jpg (Eileen Collins, a NASA photo in the
public domain; the 512x512 image scikit-image ships as `data.astronaut()`).
`demo://real` shows it with a gentle drift and zoom so it looks live. `demo://fake` is the same, but for part of every cycle a face
manipulation is blended in: a colour-shifted, slightly scaled copy of the face
pasted back through a soft face mask whose shape and strength flicker from
frame to frame, as a frame-by-frame face swap does. It is a demonstration of
the pipeline, not a real deepfake: it shows what the system does when a
model flags a face, and how fast.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge_model.blend import blend, deform_mask, hull_mask, keypoint_outline
from edge_model.crop import map_points
from edge_model.errors import DfdError

FPS = 25.0
SIZE = (640, 480)  # width, height
CYCLE_S = 20.0  # the fake stream is manipulated for the middle part of every cycle
FAKE_FROM_S, FAKE_UNTIL_S = 4.0, 16.0
PORTRAIT = Path(__file__).resolve().parent / "demo_assets" / "astronaut.jpg"


def astronaut() -> np.ndarray:
    """The public-domain portrait, BGR (512, 512, 3)."""
    image = cv2.imread(str(PORTRAIT), cv2.IMREAD_COLOR)
    if image is None:
        raise DfdError(f"the demo portrait {PORTRAIT} is missing or unreadable: reinstall dfd")
    return image


def portrait() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut (BGR) and her face's 6 keypoints, found by the same detector the workers use."""
    from edge_model.detector import FaceDetector

    image = astronaut()
    faces = FaceDetector("auto", 0.5, 1, 1).detect(image)
    if not faces:  # pragma: no cover - the detector is tested on this very image
        raise RuntimeError("demo: no face found in the demo portrait")
    return image, faces[0].keypoints


def camera(t: float) -> np.ndarray:
    """The 2x3 affine of a slow drift and zoom at time t, centred on the face area."""
    cx, cy = 225.0, 205.0
    scale = 1.3 + 0.08 * math.sin(t * 0.4)
    angle = 2.0 * math.sin(t * 0.23)
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[0, 2] += SIZE[0] / 2 - cx + 12.0 * math.sin(t * 0.31)
    m[1, 2] += SIZE[1] / 2 - cy + 8.0 * math.cos(t * 0.27)
    return m


def manipulated(t: float) -> bool:
    return FAKE_FROM_S <= t % CYCLE_S < FAKE_UNTIL_S


def swap_face(frame: np.ndarray, keypoints: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A face swap-like blend: a jittered, colour-shifted face through a flickering soft mask.

    Only the face's neighbourhood is touched, so it costs a few milliseconds.
    """
    outline = keypoint_outline(keypoints)
    (x0, y0), (x1, y1) = outline.min(0), outline.max(0)
    pad = 0.3 * max(x1 - x0, y1 - y0)
    h, w = frame.shape[:2]
    x0, y0 = max(0, int(x0 - pad)), max(0, int(y0 - pad))
    x1, y1 = min(w, int(x1 + pad)), min(h, int(y1 + pad))
    roi = frame[y0:y1, x0:x1]
    rh, rw = roi.shape[:2]
    centre = (float(keypoints[2][0] - x0), float(keypoints[2][1] - y0))
    m = cv2.getRotationMatrix2D(centre, rng.uniform(-3, 3), rng.uniform(1.02, 1.08))
    m[:, 2] += rng.uniform(-3, 3, size=2)
    source = cv2.warpAffine(roi, m, (rw, rh), borderMode=cv2.BORDER_REFLECT)
    hsv = cv2.cvtColor(source, cv2.COLOR_BGR2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + int(rng.integers(6, 14))) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(1.2, 1.5), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] + rng.uniform(-30, 10), 0, 255)
    source = cv2.GaussianBlur(cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR), (0, 0), rng.uniform(0.8, 1.6))
    mask = deform_mask(hull_mask(outline - (x0, y0), (rh, rw)), rng, strength=1.0)
    out = frame.copy()
    out[y0:y1, x0:x1] = blend(roi, source, mask, ratio=rng.uniform(0.75, 1.0))
    return out


def demo_frames(which: str, seed: int = 0) -> Iterator[np.ndarray]:
    """Endless BGR frames of `demo://real` or `demo://fake`, paced at FPS."""
    image, keypoints = portrait()
    rng = np.random.default_rng(seed)
    start = time.monotonic()
    n = 0
    while True:
        due = start + n / FPS
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0:  # far behind: skip ahead rather than burst
            n = int((time.monotonic() - start) * FPS)
        t = n / FPS
        m = camera(t)
        frame = cv2.warpAffine(image, m, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if which == "fake" and manipulated(t):
            frame = swap_face(frame, map_points(keypoints, m), rng)
        n += 1
        yield frame
