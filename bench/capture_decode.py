"""A capture's decode loop in a fresh process with a capture's imports: decode, BGR, copy into a ring slot.

`dfd bench` itself has loaded everything, and its heap no longer behaves like
a lean capture's (stream.heap), so this runs in its own interpreter:

    python -m bench.capture_decode CLIP [--glibc-defaults]

prints {"fps", "cpu_ms", "faults"} (CPU ms and minor page faults per frame) as
JSON. `--glibc-defaults` leaves out the capture's heap limits.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import stream.capture  # noqa: F401  (what a capture process has loaded, and nothing more)
from stream.heap import keep_frame_buffers
from stream.ring import FrameRing, RingSpec
from stream.sources import fit_within, make_source, read_frames


def decode_like_a_capture(path: str) -> dict[str, float]:
    ring = FrameRing.create(RingSpec(f"dfd-bench-{os.getpid()}", slots=3, max_width=1280, max_height=720))
    try:
        ring.write(next(read_frames(make_source(path), fit_within(1280, 720), realtime=False)), 0.0)  # the slots faulted in
        n = 0
        faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0, cpu0 = time.perf_counter(), time.process_time()
        for frame in read_frames(make_source(path), fit_within(1280, 720), realtime=False):
            ring.write(frame, 0.0)
            n += 1
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    finally:
        ring.close()
        ring.unlink()
    return {"fps": n / (time.perf_counter() - t0), "cpu_ms": 1000 * (time.process_time() - cpu0) / n,
            "faults": faults / n}


if __name__ == "__main__":
    if "--glibc-defaults" not in sys.argv:
        keep_frame_buffers()
    print(json.dumps(decode_like_a_capture(sys.argv[1])))
