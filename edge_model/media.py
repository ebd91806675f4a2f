"""Reading media: the one PyAV decode loop of the capture, `dfd scan` and training's preprocessing.

Every failure becomes one VideoError line that names the source (callers
pass `shown`, the source with any password masked). A photo is a one-frame
clip. PyAV is imported where it is used, so that the training loop, which
only needs the extension lists, loads no decoder.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge_model.errors import DfdError

if TYPE_CHECKING:  # annotations only: reading a config (the supervisor) loads no numpy
    import av
    import numpy as np

VIDEO_EXTS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".gif")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MEDIA_EXTS = VIDEO_EXTS + IMAGE_EXTS
DEFAULT_FPS = 25.0  # for a file that states no frame rate

Fit = Callable[[int, int], tuple[int, int]]  # (width, height) -> the size a frame is scaled to


class VideoError(DfdError):
    """A video or photo that can't be opened or decoded: missing, not a video, truncated, corrupt, or a lost stream."""


@dataclass
class Opening:
    """What an input turned out to be once open: a file has an end (it is paced, and it ends); a live stream has none."""

    finite: bool = False


def _has_end(source: str, container) -> bool:
    """A local file, or a URL whose container states a duration (a file served whole over http, not a live feed)."""
    return not _is_stream(source) or container.duration is not None


@dataclass
class Decoding:
    """How far decoding a file got, so that a scan of a cut or corrupt file says so instead of passing for whole."""

    expected: int | None = None  # the frame count the container claims (None: it does not say)
    decoded: int = 0
    error: str = ""  # why decoding stopped before the end
    ended: bool = False  # it reached the end of the file (not stopped by max_frames)

    @property
    def complete(self) -> bool:
        if self.error:
            return False
        return not self.ended or self.expected is None or self.decoded >= self.expected

    def to_dict(self) -> dict:
        return {"complete": self.complete, "frames_decoded": self.decoded, "frames_expected": self.expected,
                "decode_error": self.error}


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTS


def _is_stream(source: str) -> bool:
    """A URL or a device: it can be lost rather than corrupt, and it may yield no frame before it ends."""
    return "://" in source or source.startswith("/dev/")


def open_video(
    source: str | Path,
    shown: str | None = None,
    options: dict[str, str] | None = None,
    timeout: float | tuple[float, float] | None = None,
    format: str | None = None,
):
    """An input container with at least one video stream, or a VideoError."""
    import av

    source = str(source)
    shown = shown or source
    if not _is_stream(source):
        path = Path(source)
        if not path.exists():
            raise VideoError(f"{shown}: no such file")
        if not path.is_file():
            raise VideoError(f"{shown}: not a file")
        if path.stat().st_size == 0:
            raise VideoError(f"{shown}: empty file (0 bytes)")
    started = time.monotonic()
    try:
        # Bad bytes in a file's metadata (a title, a tool name) must not stop its video.
        container = av.open(source, format=format, options=options or {}, timeout=timeout, metadata_errors="replace")
    except (av.error.FFmpegError, OSError) as exc:
        open_timeout = timeout[0] if isinstance(timeout, tuple) else timeout
        if open_timeout is not None and time.monotonic() - started >= open_timeout:
            # FFmpeg names an interrupted open after whatever it was parsing ("Invalid data found", "Immediate exit")
            raise VideoError(f"{shown}: no answer within {open_timeout:g} s (timed out opening it)") from None
        raise VideoError(f"{shown}: cannot open ({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{shown}: not a video (no video stream)")
    return container


def video_fps(source: str | Path) -> float:
    """The file's frame rate: the decision rule's seconds are frame index / this (a photo, or none stated: DEFAULT_FPS)."""
    if is_image(source):
        return DEFAULT_FPS
    container = open_video(source)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        return float(rate) if rate else DEFAULT_FPS
    finally:
        container.close()


def read_image(path: str | Path, shown: str | None = None, fit: Fit | None = None) -> np.ndarray:
    """A photo as a BGR frame, scaled by `fit`."""
    import cv2  # photos only: a capture of a video or camera never loads OpenCV

    shown = shown or str(path)
    if not Path(path).is_file():
        raise VideoError(f"{shown}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoError(f"{shown}: not a readable image")
    if fit:
        image = cv2.resize(image, fit(image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
    return image


class _Pacer:
    """Holds frames back to the file's own frame rate; more than a second behind, or a frame due more than
    MAX_WAIT_S ahead (a damaged timestamp, a jump in the file's clock), it starts again from that frame rather
    than burst or hang."""

    MAX_WAIT_S = 2.0

    def __init__(self) -> None:
        self.origin: tuple[float, float] | None = None  # (wall time, frame time)

    def wait(self, frame_time: float | None) -> None:
        if frame_time is None:
            return
        now = time.monotonic()
        due = None if self.origin is None else self.origin[0] + frame_time - self.origin[1]
        if due is None or now - due > 1.0 or due - now > self.MAX_WAIT_S:
            self.origin, due = (now, frame_time), now
        if due > now:
            time.sleep(due - now)


class _Sampler:
    """Keeps about `fps` frames per second of video, on a grid of 1/fps from the first kept frame.

    A live stream's clock can jump (a camera restarts its timestamps, a feed skips ahead): a frame
    before the last kept one, or more than one period past the next due time, starts a new grid,
    so a jump back never stalls the stream and a jump ahead never releases a burst.
    """

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self.next_t: float | None = None
        self.kept_t = 0.0

    def keep(self, frame_time: float | None, index: int) -> bool:
        t = float(frame_time) if frame_time is not None else index / DEFAULT_FPS
        jumped = self.next_t is None or t < self.kept_t or t > self.next_t + self.period
        if not jumped and t + 1e-6 < self.next_t:
            return False
        self.next_t = t + self.period if jumped else self.next_t + self.period
        self.kept_t = t
        return True


def read_frames(
    source: str | Path,
    *,
    every: int = 1,
    max_frames: int | None = None,
    fps: float | None = None,
    fit: Fit | None = None,
    realtime: bool = False,
    decoding: Decoding | None = None,
    shown: str | None = None,
    options: dict[str, str] | None = None,
    timeout: float | tuple[float, float] | None = None,
    format: str | None = None,
    opening: Opening | None = None,
    threads: int = 0,
    pixels: str = "bgr24",
    to_numpy: bool = True,
) -> Iterator[tuple[int, np.ndarray | av.VideoFrame]]:
    """(frame index, BGR frame) for every `every`-th frame (or about `fps` a second), up to max_frames of them.

    The index counts every decoded frame: it is the frame's position in the file.
    `fit` scales frames; `realtime` paces them at the file's frame rate when
    the input has an end (a live stream comes at its own pace); `opening`
    records which it was. `threads` 0 lets FFmpeg decode on every core, the
    fastest for one reader alone; 1 is for a live capture, one process of many
    on the cores, where frame threads only add work (a third more CPU a frame:
    `dfd bench`'s decode section). With
    `decoding`, a decode error after the first frame ends the frames instead of
    raising, and `decoding` records how far it got. A file of which no frame
    decodes is a VideoError; a stream that ends before its first frame just ends.
    `pixels` is PyAV's format name for what is handed on: "yuv420p" gives an H.264
    decoder's own planes, unconverted, for `bench.paced_decode`'s comparison.
    `to_numpy` False hands on PyAV's converted VideoFrame itself (a photo stays an array):
    a capture copies it into its ring and so never loads numpy.
    """
    source = str(source)
    shown = shown or source
    if is_image(source):
        yield 0, read_image(source, shown, fit)
        return
    import av
    from av.video.reformatter import VideoReformatter

    container = open_video(source, shown, options, timeout, format)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.thread_count = threads
    if decoding is not None:
        decoding.expected = stream.frames or None
    finite = _has_end(source, container)
    if opening is not None:
        opening.finite = finite
    pacer = _Pacer() if realtime and finite else None
    sampler = _Sampler(fps) if fps else None
    reformatter = VideoReformatter()  # one converter per opening: to_ndarray builds one per frame
    index, kept = -1, 0
    try:
        for packet in container.demux(stream):
            for frame in packet.decode():
                index += 1
                if decoding is not None:
                    decoding.decoded = index + 1
                if index % every or (sampler is not None and not sampler.keep(frame.time, index)):
                    continue
                if pacer is not None:
                    pacer.wait(frame.time)
                width, height = fit(frame.width, frame.height) if fit else (None, None)
                converted = reformatter.reformat(frame, format=pixels, width=width, height=height)
                yield index, converted.to_ndarray() if to_numpy else converted
                kept += 1
                if max_frames is not None and kept >= max_frames:
                    return
    except av.error.FFmpegError as exc:
        why = exc.strerror or type(exc).__name__
        line = f"stream lost ({why})" if _is_stream(source) else f"corrupt or truncated video at frame {index + 1} ({why})"
        if decoding is None or index < 0:
            raise VideoError(f"{shown}: {line}") from None
        decoding.error = line
        return
    finally:
        container.close()
    if decoding is not None:
        decoding.ended = True
    if index < 0 and not _is_stream(source):
        raise VideoError(f"{shown}: no frame could be decoded (truncated or corrupt)")
