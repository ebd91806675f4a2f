"""Small H.264 clips that the tests make themselves, with PyAV: a real face, no shared data needed.

The face is the demo's public-domain astronaut portrait (stream/demo_assets), drifting
and zooming slightly so that trackers and temporal windows see motion.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from stream.demo import astronaut


def face_frames(n: int, width: int = 640, height: int = 480, seed: int = 0) -> list[np.ndarray]:
    """n frames of the portrait moving slowly over a plain background."""
    rng = np.random.default_rng(seed)
    face = astronaut()[0:300, 100:400]  # head and shoulders
    frames = []
    for i in range(n):
        canvas = np.full((height, width, 3), 90, np.uint8)
        scale = (0.8 + 0.05 * np.sin(i / 7)) * height / face.shape[0]
        f = cv2.resize(face, None, fx=scale, fy=scale)
        fh, fw = f.shape[:2]
        x = int((width - fw) / 2 + 20 * np.sin(i / 11))
        y = int((height - fh) / 2 + 10 * np.cos(i / 13))
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + fw, width), min(y + fh, height)
        canvas[y0:y1, x0:x1] = f[y0 - y : y1 - y, x0 - x : x1 - x]
        noise = rng.integers(-3, 4, canvas.shape, dtype=np.int16)
        frames.append(np.clip(canvas.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 15) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_face_clip(path: Path, n: int = 30, width: int = 640, height: int = 480, fps: int = 15) -> Path:
    return write_clip(path, face_frames(n, width, height), fps)
