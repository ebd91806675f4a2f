"""The clips the benchmark decodes and streams, made with PyAV inside the benchmark.

One face (the public-domain astronaut portrait of the demo)
drifts and zooms over a plain background, so the detector, the tracker and
H.264 all see motion. Frames are rendered one at a time into the encoder:
a list of 720p frames would cost gigabytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np

from stream.demo import astronaut


@dataclass(frozen=True)
class ClipSpec:
    width: int = 640
    height: int = 480
    seconds: float = 10.0
    fps: int = 30
    face_gap_every_s: float = 0.0  # > 0: the face leaves for 1 s every this many seconds (ends tracks)

    def name(self) -> str:
        gap = f"-gap{self.face_gap_every_s:g}" if self.face_gap_every_s else ""
        return f"face-{self.width}x{self.height}-{self.fps}fps-{self.seconds:g}s{gap}.mp4"


@cache
def portrait_bgr() -> np.ndarray:
    """Head and shoulders of the demo's public-domain astronaut portrait."""
    return astronaut()[0:300, 100:400]


def frames(spec: ClipSpec) -> Iterator[np.ndarray]:
    face = portrait_bgr()
    n = round(spec.seconds * spec.fps)
    # A little sensor noise, as a camera has: a flat synthetic frame decodes unrealistically fast.
    rng = np.random.default_rng(0)
    noise = [rng.integers(88, 93, (spec.height, spec.width, 3), dtype=np.uint8) for _ in range(7)]
    for i in range(n):
        canvas = noise[i % len(noise)].copy()
        t = i / spec.fps
        if spec.face_gap_every_s and t % spec.face_gap_every_s >= spec.face_gap_every_s - 1.0:
            yield canvas
            continue
        scale = (0.7 + 0.05 * np.sin(i / 7)) * spec.height / face.shape[0]
        f = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        fh, fw = f.shape[:2]
        x = int((spec.width - fw) / 2 + 0.05 * spec.width * np.sin(i / 11))
        y = int((spec.height - fh) / 2 + 0.03 * spec.height * np.cos(i / 13))
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + fw, spec.width), min(y + fh, spec.height)
        canvas[y0:y1, x0:x1] = f[y0 - y : y1 - y, x0 - x : x1 - x]
        yield canvas


def write_clip(path: Path, spec: ClipSpec) -> Path:
    """An H.264 (yuv420p) mp4 at the spec's size and rate."""
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=spec.fps)
        stream.width, stream.height = spec.width, spec.height
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "g": str(2 * spec.fps)}
        for frame in frames(spec):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        out.mux(stream.encode())
    tmp.rename(path)
    return path


def clip(workdir: Path, spec: ClipSpec) -> Path:
    """The clip for `spec` in workdir, made once."""
    path = workdir / spec.name()
    return path if path.is_file() else write_clip(path, spec)


def first_frame(spec: ClipSpec) -> np.ndarray:
    return next(frames(spec))
