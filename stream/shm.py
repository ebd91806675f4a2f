"""The rings' shared-memory segments, without multiprocessing's resource tracker and without numpy.

multiprocessing.shared_memory registers every segment with a resource-tracker
process (13 MiB, one per run) so that a crashed owner's segments are removed.
Here lifeline.sweep_stale does that job at the next start (the segment names
carry the supervisor's PID), so the supervisor creates plain POSIX segments and
needs neither the tracker nor numpy: FrameRing (stream.ring) lays the slots
over a segment in the processes that read and write frames.
"""

from __future__ import annotations

import _posixshmem  # CPython's POSIX shm_open/shm_unlink, the module multiprocessing.shared_memory uses
import mmap
import os
import struct
from dataclasses import dataclass

HEADER_FIELDS = (("seq", "q"), ("ts", "d"), ("width", "i"), ("height", "i"))  # a slot's header, little-endian
HEADER_FORMAT = "<" + "".join(code for _, code in HEADER_FIELDS)
HEADER_BYTES = 32  # the header (24 bytes) padded so every slot's pixels start 32-byte aligned
BUSY = -1
EMPTY = -2


@dataclass(frozen=True)
class RingSpec:
    """Everything a process needs to attach to a ring (it is pickled to the children)."""

    name: str
    slots: int
    max_width: int
    max_height: int

    @property
    def slot_bytes(self) -> int:
        return HEADER_BYTES + self.max_width * self.max_height * 3

    @property
    def total_bytes(self) -> int:
        return self.slots * self.slot_bytes


class Segment:
    """One named POSIX shared-memory segment, mapped read-write."""

    def __init__(self, name: str, size: int = 0, create: bool = False) -> None:
        self.name = name
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = _posixshmem.shm_open("/" + name, flags, mode=0o600)
        try:
            if create:
                os.ftruncate(fd, size)
            self.size = os.fstat(fd).st_size
            self.buf = mmap.mmap(fd, self.size) if self.size else None
        finally:
            os.close(fd)

    def close(self) -> None:
        if self.buf is not None:
            self.buf.close()
            self.buf = None

    def unlink(self) -> None:
        """Remove the name (the creator does this once, at shutdown); mappings stay valid until closed."""
        try:
            _posixshmem.shm_unlink("/" + self.name)
        except FileNotFoundError:
            pass


def create_ring(spec: RingSpec) -> Segment:
    """A new ring's segment with every slot marked empty."""
    segment = Segment(spec.name, spec.total_bytes, create=True)
    for slot in range(spec.slots):
        struct.pack_into(HEADER_FORMAT, segment.buf, slot * spec.slot_bytes, EMPTY, 0.0, 0, 0)
    return segment
