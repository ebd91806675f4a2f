"""The built-in demo: two live streams made on the fly from a public-domain portrait.

The portrait is demo_assets/astronaut.jpg (Eileen Collins, a NASA photo in the
public domain; the 512x512 image scikit-image ships as `data.astronaut()`).
`demo://real` shows it with a gentle drift and zoom so it looks live.
`demo://fake` is the same, but for part of every cycle her face is swapped
with the graphics face swap the model trains on (edge_model.faceswap: warped
over the 468-point face mesh, colour-matched, blended through a soft mask), at
the sloppy end of its quality scale. The donor is her own mirror image, the
one other face the package may ship: its lighting and geometry do not match.
A few swaps with jittered landmarks and wavering blend are made once, at
start, and one is drawn for each frame, so the face flickers as a face
swapped frame by frame does. It is a demonstration of the pipeline, not a
real deepfake: it shows what the system does when a model flags a face, and
how fast.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge_model.errors import DfdError

FPS = 25.0
SIZE = (640, 480)  # width, height
CYCLE_S = 20.0  # the fake stream is manipulated for the middle part of every cycle
FAKE_FROM_S, FAKE_UNTIL_S = 4.0, 16.0
SWAPS = 6  # swapped portraits drawn from, frame by frame
PORTRAIT = Path(__file__).resolve().parent / "demo_assets" / "astronaut.jpg"


def astronaut() -> np.ndarray:
    """The public-domain portrait, BGR (512, 512, 3)."""
    image = cv2.imread(str(PORTRAIT), cv2.IMREAD_COLOR)
    if image is None:
        raise DfdError(f"the demo portrait {PORTRAIT} is missing or unreadable: reinstall dfd")
    return image


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


def face_swaps(image: np.ndarray, count: int = SWAPS, seed: int = 0) -> list[np.ndarray]:
    """`count` sloppy swaps of the portrait's face with its mirror image (BGR), each with its own
    landmark jitter and blend ratio: the frames of the fake stream's manipulated part."""
    from edge_model.detector import FaceDetector
    from edge_model.facemesh import FaceMesh
    from edge_model.faceswap import jitter_points, sample_quality, swap_frame, triangulate

    detector, mesh = FaceDetector("auto", 0.5, 1, 1), FaceMesh()
    meshes = []
    for picture in (image, np.ascontiguousarray(image[:, ::-1])):
        face = detector.detect(picture)[0]
        meshes.append(mesh.landmarks(picture, face.box, face.keypoints)[:, :2])
    rgb, donor = image[..., ::-1], np.ascontiguousarray(image[:, ::-1, ::-1])
    rng = np.random.default_rng(seed)
    quality = sample_quality(rng, level=1.0)
    triangles = triangulate(meshes[0])
    swaps = []
    for _ in range(count):
        ratio = float(np.clip(quality.ratio + rng.normal(0.0, quality.flicker), 0.6, 1.0))
        target = jitter_points(meshes[0], quality.jitter, rng)
        swapped = swap_frame(np.ascontiguousarray(rgb), target, donor, meshes[1], quality, triangles, ratio)
        swaps.append(np.ascontiguousarray(swapped[..., ::-1]))
    return swaps


def demo_frames(which: str, seed: int = 0, fps: float = FPS) -> Iterator[np.ndarray]:
    """Endless BGR frames of `demo://real` or `demo://fake`, paced at `fps` (at most FPS): a sampled demo
    stream is the same scene, fewer frames of it."""
    fps = min(fps, FPS)
    image = astronaut()
    swaps = face_swaps(image, seed=seed) if which == "fake" else []
    rng = np.random.default_rng(seed)
    start = time.monotonic()
    n = 0
    while True:
        due = start + n / fps
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -1.0:  # far behind: skip ahead rather than burst
            n = int((time.monotonic() - start) * fps)
        t = n / fps
        source = swaps[int(rng.integers(len(swaps)))] if swaps and manipulated(t) else image
        frame = cv2.warpAffine(source, camera(t), SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        n += 1
        yield frame
