"""Open and decode video with PyAV, turning every failure into one clear line."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from edge_model.errors import DfdError
from edge_model.scan import stream_fps
from stream.secrets import mask_url

VIDEO_EXTS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv")


class VideoError(DfdError):
    """A video that can't be opened or decoded: missing, not a video, truncated or corrupt."""


@dataclass
class Decoding:
    """How far decoding a file got, so that a scan of a cut or corrupt file says so instead of passing for whole."""

    expected: int | None = None  # the frame count the container claims (None: it does not say)
    decoded: int = 0
    error: str = ""  # why decoding stopped before the end
    ended: bool = False  # it reached the end of the file (not stopped by --max-frames)

    @property
    def complete(self) -> bool:
        if self.error:
            return False
        return not self.ended or self.expected is None or self.decoded >= self.expected

    def to_dict(self) -> dict:
        return {"complete": self.complete, "frames_decoded": self.decoded, "frames_expected": self.expected,
                "decode_error": self.error}


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


def iter_frames(
    source: str, every: int = 1, max_frames: int | None = None, decoding: Decoding | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR frame) for every `every`-th frame of a file, up to max_frames of them.

    With `decoding`, a decode error after the first frame ends the frames instead of raising,
    and `decoding` records how far it got.
    """
    container = open_video(source)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    if decoding is not None:
        decoding.expected = stream.frames or None
    index = -1
    yielded = 0
    reformatter = VideoReformatter()  # one converter per file: to_ndarray builds one per frame
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                index += 1
                if decoding is not None:
                    decoding.decoded = index + 1
                if index % every:
                    continue
                yield index, reformatter.reformat(frame, format="bgr24").to_ndarray()
                yielded += 1
                if max_frames is not None and yielded >= max_frames:
                    return
    except av.error.FFmpegError as exc:
        line = f"corrupt or truncated video at frame {index + 1} ({exc.strerror or type(exc).__name__})"
        if decoding is None or index < 0:
            raise VideoError(f"{mask_url(source)}: {line}") from None
        decoding.error = line
        return
    finally:
        container.close()
    if decoding is not None:
        decoding.ended = True
    if index < 0:
        raise VideoError(f"{mask_url(source)}: no frame could be decoded (truncated or corrupt)")
