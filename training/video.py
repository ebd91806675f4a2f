"""Frames from a video or a photo, decoded with PyAV, optionally sampled at a lower rate.

Training cannot import `stream`, so it has this small decoder of its own.
A photo is a one-frame clip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edge_model.errors import DfdError
from edge_model.scan import DEFAULT_FPS, stream_fps

VIDEO_EXTS = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".gif"}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
MEDIA_EXTS = VIDEO_EXTS | IMAGE_EXTS


class VideoError(DfdError):
    """A video or photo that can't be read."""


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS


def video_fps(path: str | Path) -> float:
    """The file's frame rate, for the decision rule's seconds (a photo: DEFAULT_FPS)."""
    path = Path(path)
    if is_image(path):
        return DEFAULT_FPS
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path.name}: no video stream")
            return stream_fps(container.streams.video[0])
    except av.FFmpegError as exc:
        raise VideoError(f"{path.name}: cannot open ({exc.__class__.__name__}: {exc})") from None


def read_frames(path: str | Path, fps: float | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame number, BGR frame) pairs; with `fps`, about that many frames per second of video.

    The frame number counts every decoded frame, so it is the frame's position in the file.
    """
    path = Path(path)
    if is_image(path):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise VideoError(f"{path.name}: not a readable image")
        yield 0, img
        return
    import av  # here, so that the training loop imports no decoder
    from av.video.reformatter import VideoReformatter

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path.name}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            next_t = None
            reformatter = VideoReformatter()  # one converter per file: to_ndarray builds one per frame
            for index, frame in enumerate(container.decode(stream)):
                if fps:
                    t = float(frame.time) if frame.time is not None else index / 25.0
                    if next_t is not None and t + 1e-6 < next_t:
                        continue
                    next_t = (t if next_t is None else next_t) + 1.0 / fps
                yield index, reformatter.reformat(frame, format="bgr24").to_ndarray()
    except av.FFmpegError as exc:
        raise VideoError(f"{path.name}: cannot decode ({exc.__class__.__name__}: {exc})") from None


def pad_frame(frame: np.ndarray, pad: float) -> np.ndarray:
    """Add `pad` x the frame's size on each side (edge pixels replicated).

    Tight face crops (DFDC's) frame the face closer than our crop margin;
    padding gives the detector and the crop the context they expect.
    """
    h, w = frame.shape[:2]
    py, px = int(round(h * pad)), int(round(w * pad))
    return cv2.copyMakeBorder(frame, py, py, px, px, cv2.BORDER_REPLICATE)
