"""Keep a capture's frame-sized buffers in its heap instead of handing them back to the kernel every frame.

glibc serves a large allocation with a fresh mmap and trims the top of its heap
when enough is free there. Both limits move on their own, and in a capture, a
lean process whose big allocations are FFmpeg's and the converted frame
(900 KiB at 640x480), they ended up just around those sizes: each frame mapped
and faulted in new pages and unmapped them again.
Fixed limits above a frame keep those buffers in the heap: in a fresh process
with a capture's imports (`dfd bench`'s decode section, bench.capture_decode),
640x480 decode + BGR conversion + ring copy went from 2.55 to 1.73 ms of CPU a
frame and 151 to 18 faults; live under 4 streams the captures' CPU fell from
2.67 to 2.39 ms a frame. RSS: 2.6 MiB more in that loop; the capture's peak under
`dfd watch` stayed at 72 MiB (README, "A capture's heap").
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_ABOVE = 16 << 20  # bytes: larger allocations still get their own mapping (a 4K frame is 24 MiB)
TRIM_ABOVE = 64 << 20  # bytes free at the heap's top before it is given back


def keep_frame_buffers() -> bool:
    """Set glibc's mmap and trim thresholds for this process; False where the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_ABOVE)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_ABOVE))
    except (OSError, AttributeError):
        return False
