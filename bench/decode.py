"""PyAV decode speed of H.264 at 640x480 and 1280x720, on clips the benchmark makes itself.

Three figures per size: decode alone; decode plus `frame.to_ndarray("bgr24")`,
the conversion a capture does for every frame; and the same conversion
through one reused `VideoReformatter`. PyAV's `to_ndarray` builds a new
swscale context for every new frame, which can cost more than the decoding.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import av
from av.video.reformatter import VideoReformatter

from bench.clips import ClipSpec, clip
from bench.context import Context
from bench.measure import Figure

SIZES = ((640, 480), (1280, 720))


def steps(ctx: Context) -> int:
    return len(SIZES) * (1 + len(MODES) * ctx.plan.runs)


def _none(frame: av.VideoFrame, _: VideoReformatter) -> None:
    return None


def _to_ndarray(frame: av.VideoFrame, _: VideoReformatter) -> None:
    frame.to_ndarray(format="bgr24")


def _reformatter(frame: av.VideoFrame, reformatter: VideoReformatter) -> None:
    reformatter.reformat(frame, format="bgr24").to_ndarray()


MODES = {"decode_fps": _none, "decode_bgr_fps": _to_ndarray, "decode_bgr_reused_fps": _reformatter}


def decode_fps(path: Path, convert: Callable[[av.VideoFrame, VideoReformatter], None]) -> float:
    """Frames per second for one pass over the file, threaded as the capture decodes."""
    n = 0
    reformatter = VideoReformatter()
    t0 = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            convert(frame, reformatter)
            n += 1
    return n / (time.perf_counter() - t0)


def run(ctx: Context) -> dict:
    out = {}
    seconds = 5.0 if ctx.plan.quick else 10.0
    for width, height in SIZES:
        ctx.step(f"decode: making a {width}x{height} H.264 clip")
        path = clip(ctx.workdir, ClipSpec(width, height, seconds=seconds))
        row: dict = {"clip": path.name, "frames": round(seconds * 30)}
        for key, convert in MODES.items():
            fps = []
            for _ in range(ctx.plan.runs):
                ctx.step(f"decode: {width}x{height} {key}")
                fps.append(decode_fps(path, convert))
            row[key] = Figure.of(fps, "fps").to_dict()
        out[f"{width}x{height}"] = row
    return out
