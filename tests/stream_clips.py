"""Small test clips written with PyAV from the public-domain astronaut portrait, with motion."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2

from stream.demo import astronaut, camera


def make_clip(path: Path, seconds: float = 3.0, fps: int = 15, size: tuple[int, int] = (640, 480)) -> Path:
    """An H.264 mp4 of the portrait drifting and zooming (a face in every frame)."""
    image = astronaut()
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps, 1))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(int(seconds * fps)):
            m = camera(i / fps)
            m[:, :] *= size[0] / 640  # the demo's camera is laid out for 640x480
            frame = cv2.warpAffine(image, m, size, borderMode=cv2.BORDER_REFLECT)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        out.mux(stream.encode(None))
    return path
