"""What decoding costs as frames come, 30 a second, against decoding back to back.

    python -m bench.paced_decode --out bench/results/paced-decode

The offline pipeline decodes a file as fast as it can; a live capture decodes
each frame when it is due, with other work in between, so its decoder starts
each frame with cold caches. This reads the bench's 640x480 clip through a
capture's own reader (`stream.sources.read_frames`: one decoder thread, a
reused BGR converter, the file's pacing) on one core, and times each frame
with the thread's CPU clock: back to back; paced at the clip's 30 a second;
and N streams paced: read in turn by one thread, each in a thread of one
process (what a capture process does since stream.streams_per_capture), or
each in its own process (what the captures did before). Threads and
processes start at random moments within a frame's time, as cameras are not
in step. Two rows weigh handing on the decoder's own yuv420p planes instead of
BGR (a worker would convert them): the capture's threads without the
conversion, and what OpenCV's I420 -> BGR takes a frame. Writes paced_decode.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from bench.capacity import FPS
from bench.clips import ClipSpec, clip
from bench.host import cpu_line, host_facts
from stream.sources import fit_within, make_source, read_frames


def _decode_ms(path: Path, streams: int, paced: bool, frames: int, start_after_s: float = 0.0,
               pixels: str = "bgr24") -> list[float]:
    """CPU ms of each frame a capture's reader hands on, `streams` readers taken in turn."""
    time.sleep(start_after_s)
    readers = [read_frames(make_source(str(path)), fit_within(640, 480), realtime=paced, pixels=pixels)
               for _ in range(streams)]
    out = []
    try:
        for _ in range(frames):
            for reader in readers:
                t0 = time.thread_time_ns()
                next(reader)  # the pacing's sleep is not CPU time
                out.append((time.thread_time_ns() - t0) / 1e6)
    finally:
        for reader in readers:
            reader.close()
    return out


def _staggered(path: Path, streams: int, frames: int, pixels: str = "bgr24") -> list[tuple]:
    """_decode_ms's arguments for `streams` paced decoders that start within one frame's time of each other."""
    return [(path, 1, True, frames, random.uniform(0, 1 / FPS), pixels) for _ in range(streams)]


def _in_processes(path: Path, streams: int, frames: int) -> list[float]:
    """`streams` paced decoders, each in its own process on this core."""
    with mp.get_context("spawn").Pool(streams) as pool:
        return [ms for part in pool.starmap(_decode_ms, _staggered(path, streams, frames)) for ms in part]


def _in_threads(path: Path, streams: int, frames: int, pixels: str = "bgr24") -> list[float]:
    """`streams` paced decoders, each in its own thread of this process (each thread's own CPU clock)."""
    with ThreadPoolExecutor(streams) as pool:
        parts = pool.map(lambda a: _decode_ms(*a), _staggered(path, streams, frames, pixels))
        return [ms for part in parts for ms in part]


def _i420_to_bgr_ms(path: Path, frames: int) -> list[float]:
    """CPU ms of OpenCV's I420 -> BGR for each of the clip's frames: what a worker would pay for yuv420p frames."""
    out = []
    for frame in read_frames(make_source(str(path)), fit_within(640, 480), realtime=False, pixels="yuv420p"):
        planes = frame.to_ndarray()  # the I420 planes as one array, outside the timing
        t0 = time.thread_time_ns()
        cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420)
        out.append((time.thread_time_ns() - t0) / 1e6)
        if len(out) >= frames:
            break
    return out


def measure(workdir: Path, frames: int) -> dict:
    path = clip(workdir, ClipSpec(640, 480, seconds=frames / FPS + 1, fps=FPS))
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # the pool's processes inherit the core
    rows = {"back to back": _decode_ms(path, 1, False, frames), "paced, 1 stream": _decode_ms(path, 1, True, frames)}
    for n in (4, 8):
        rows[f"paced, {n} streams in one process"] = _decode_ms(path, n, True, frames)
        rows[f"paced, {n} streams, a thread each in one process"] = _in_threads(path, n, frames)
        rows[f"paced, {n} streams in {n} processes"] = _in_processes(path, n, frames)
    rows["paced, 8 streams, a thread each in one process, yuv420p (no BGR conversion)"] = _in_threads(
        path, 8, frames, "yuv420p")
    rows["OpenCV I420 -> BGR of a 640x480 frame (a worker's cost for yuv420p frames)"] = _i420_to_bgr_ms(path, frames)
    return {"cpu": cpu_line(host_facts()), "clip": path.name, "ms_cpu_per_frame": {
        name: {"frames": len(ms), "median_ms": round(float(np.median(ms)), 3), "mean_ms": round(float(np.mean(ms)), 3)}
        for name, ms in rows.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.paced_decode", description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=240, help="frames of each stream (the clip is this long)")
    p.add_argument("--out", type=Path, default=Path("bench/results/paced-decode"))
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        r = measure(Path(tmp), a.frames)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "paced_decode.json").write_text(json.dumps(r, indent=1) + "\n")
    print(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
