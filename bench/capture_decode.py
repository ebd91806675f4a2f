"""A capture's decode loop in a fresh process with a capture's imports: decode, BGR, copy into a ring slot.

`dfd bench` itself has loaded everything, and its heap no longer behaves like
a lean capture's (stream.heap), so this runs in its own interpreter:

    python -m bench.capture_decode CLIP [--glibc-defaults]

prints {"fps", "cpu_ms", "faults"} (CPU ms and minor page faults per frame) as
JSON. `--glibc-defaults` leaves out the capture's heap limits.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

import stream.capture  # noqa: F401  (what a capture process has loaded, and nothing more)
from stream.heap import keep_frame_buffers
from stream.sources import fit_within, make_source, read_frames


def decode_like_a_capture(path: str) -> dict[str, float]:
    slot: np.ndarray | None = None
    n = 0
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0, cpu0 = time.perf_counter(), time.process_time()
    for frame in read_frames(make_source(path), fit_within(1280, 720), realtime=False):
        if slot is None:
            slot = np.empty_like(frame)  # the ring's slot: written in place every frame
        slot[:] = frame
        n += 1
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    return {"fps": n / (time.perf_counter() - t0), "cpu_ms": 1000 * (time.process_time() - cpu0) / n,
            "faults": faults / n}


if __name__ == "__main__":
    if "--glibc-defaults" not in sys.argv:
        keep_frame_buffers()
    print(json.dumps(decode_like_a_capture(sys.argv[1])))
