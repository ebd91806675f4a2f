"""Open and decode video with PyAV, turning every failure into one clear line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from edge_model.errors import DfdError
from edge_model.scan import stream_fps
from stream.secrets import mask_url


class VideoError(DfdError):
    """A video that can't be opened or decoded: missing, not a video, truncated or corrupt."""


def _is_url(source: str) -> bool:
    return "://" in source


def open_video(source: str, options: dict[str, str] | None = None, timeout: float | None = None):
    """An input container with at least one video stream, or a VideoError."""
    shown = mask_url(source)
    if not _is_url(source) and not source.startswith("/dev/"):
        path = Path(source)
        if not path.exists():
            raise VideoError(f"{shown}: no such file")
        if not path.is_file():
            raise VideoError(f"{shown}: not a file")
    try:
        # Bad bytes in a file's metadata (a title, a tool name) must not stop its video.
        container = av.open(source, options=options or {}, timeout=timeout, metadata_errors="replace")
    except av.error.FFmpegError as exc:
        raise VideoError(f"{shown}: cannot open ({exc.strerror or type(exc).__name__})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{shown}: not a video (no video stream)")
    return container


def video_fps(source: str) -> float:
    """The file's frame rate: `dfd scan` turns frame indices into the seconds the live rule sees."""
    container = open_video(source)
    try:
        return stream_fps(container.streams.video[0])
    finally:
        container.close()


def iter_frames(source: str, every: int = 1, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR frame) for every `every`-th frame of a file, up to max_frames of them."""
    container = open_video(source)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    index = -1
    yielded = 0
    reformatter = VideoReformatter()  # one converter per file: to_ndarray builds one per frame
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                index += 1
                if index % every:
                    continue
                yield index, reformatter.reformat(frame, format="bgr24").to_ndarray()
                yielded += 1
                if max_frames is not None and yielded >= max_frames:
                    return
    except av.error.FFmpegError as exc:
        raise VideoError(
            f"{mask_url(source)}: corrupt or truncated video at frame {index + 1} ({exc.strerror or type(exc).__name__})"
        ) from None
    finally:
        container.close()
    if index < 0:
        raise VideoError(f"{mask_url(source)}: no frame could be decoded (truncated or corrupt)")
