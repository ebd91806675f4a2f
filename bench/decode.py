"""PyAV decode speed of H.264 at 640x480 and 1280x720, on clips the benchmark makes itself.

Four figures per size: decode alone; decode plus `frame.to_ndarray("bgr24")`,
the conversion a capture does for every frame; the same conversion through
one reused `VideoReformatter` (PyAV's `to_ndarray` builds a new swscale
context for every new frame, which can cost more than the decoding); and
that with one decoder thread, as a live capture decodes. Each also has its
CPU time per frame (every thread of the process): FFmpeg's frame threads
are faster for one reader alone and cost more CPU a frame, which is what a
machine full of captures and workers pays. Last, a capture's own loop
(decode, BGR, copy into a ring slot) in a fresh process with a capture's
imports (bench.capture_decode), with its heap limits (stream.heap) and
without: the bench process's heap does not fault the way a lean capture's did.
"""

from __future__ import annotations

import json
import subprocess
import sys
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
    return len(SIZES) * (1 + (len(MODES) + len(CAPTURE_MODES)) * ctx.plan.runs)


def _none(frame: av.VideoFrame, _: VideoReformatter) -> None:
    return None


def _to_ndarray(frame: av.VideoFrame, _: VideoReformatter) -> None:
    frame.to_ndarray(format="bgr24")


def _reformatter(frame: av.VideoFrame, reformatter: VideoReformatter) -> None:
    reformatter.reformat(frame, format="bgr24").to_ndarray()


Convert = Callable[[av.VideoFrame, VideoReformatter], None]
# key -> (conversion, decoder threads: 0 = FFmpeg's choice, as `dfd scan` decodes; 1 = as a live capture does)
MODES: dict[str, tuple[Convert, int]] = {
    "decode": (_none, 0), "decode_bgr": (_to_ndarray, 0), "decode_bgr_reused": (_reformatter, 0),
    "decode_bgr_one_thread": (_reformatter, 1),
}
CAPTURE_MODES: dict[str, list[str]] = {"capture_process": [], "capture_process_glibc_defaults": ["--glibc-defaults"]}


def decode_fps(path: Path, convert: Convert, threads: int) -> tuple[float, float]:
    """(frames per second, CPU ms per frame) for one pass over the file."""
    n = 0
    reformatter = VideoReformatter()
    t0, cpu0 = time.perf_counter(), time.process_time()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        for frame in container.decode(stream):
            convert(frame, reformatter)
            n += 1
    return n / (time.perf_counter() - t0), 1000 * (time.process_time() - cpu0) / n


def capture_process(path: Path, args: list[str]) -> dict[str, float]:
    """fps, CPU ms and page faults per frame of a capture's decode loop in a fresh process."""
    out = subprocess.run([sys.executable, "-m", "bench.capture_decode", str(path), *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def run(ctx: Context) -> dict:
    out = {}
    seconds = 5.0 if ctx.plan.quick else 10.0
    for width, height in SIZES:
        ctx.step(f"decode: making a {width}x{height} H.264 clip")
        path = clip(ctx.workdir, ClipSpec(width, height, seconds=seconds))
        row: dict = {"clip": path.name, "frames": round(seconds * 30)}
        for key, (convert, threads) in MODES.items():
            fps, cpu = [], []
            for _ in range(ctx.plan.runs):
                ctx.step(f"decode: {width}x{height} {key}")
                f, c = decode_fps(path, convert, threads)
                fps.append(f)
                cpu.append(c)
            row[f"{key}_fps"] = Figure.of(fps, "fps").to_dict()
            row[f"{key}_cpu_ms"] = Figure.of(cpu, "ms").to_dict()
        for key, args in CAPTURE_MODES.items():
            runs = []
            for _ in range(ctx.plan.runs):
                ctx.step(f"decode: {width}x{height} {key}")
                runs.append(capture_process(path, args))
            for name, unit in (("fps", "fps"), ("cpu_ms", "ms"), ("faults", "faults")):
                row[f"{key}_{name}"] = Figure.of([r[name] for r in runs], unit).to_dict()
        out[f"{width}x{height}"] = row
    return out
