"""A shared-memory ring of fixed frame slots, one per stream.

The supervisor creates every ring (so it can unlink them all at shutdown, even
after a capture crashed); the capture writes, the workers read. Each slot has
a header with a sequence number. The writer marks a slot busy (-1) before it
copies a frame in and stamps the new sequence number after; a reader copies
the frame out and checks the number before and after, so a frame that was
overwritten while it waited (or while it was read) is seen and skipped,
never half-read.
"""

from __future__ import annotations

import numpy as np

from stream.shm import BUSY, HEADER_BYTES, HEADER_FIELDS, RingSpec, Segment, create_ring

HEADER = np.dtype([(name, "<" + code) for name, code in HEADER_FIELDS])


class FrameRing:
    """Fixed slots of BGR frames in one shared-memory segment."""

    def __init__(self, spec: RingSpec, create: bool = False) -> None:
        self.spec = spec
        self._shm = create_ring(spec) if create else Segment(spec.name)
        if self._shm.size < spec.total_bytes:
            self._shm.close()
            raise ValueError(f"ring {spec.name}: segment is smaller than its spec")
        buf = self._shm.buf
        self._headers = [
            np.ndarray((1,), HEADER, buffer=buf, offset=i * spec.slot_bytes) for i in range(spec.slots)
        ]
        self._pixels = [
            np.ndarray(
                (spec.max_width * spec.max_height * 3,),
                np.uint8,
                buffer=buf,
                offset=i * spec.slot_bytes + HEADER_BYTES,
            )
            for i in range(spec.slots)
        ]
        # A restarted writer goes on after the highest number already in the ring.
        self._next_seq = max(0, max(int(h["seq"][0]) for h in self._headers) + 1)

    @classmethod
    def create(cls, spec: RingSpec) -> FrameRing:
        return cls(spec, create=True)

    @classmethod
    def attach(cls, spec: RingSpec) -> FrameRing:
        return cls(spec, create=False)

    def write(self, frame_bgr: np.ndarray, ts: float) -> tuple[int, int]:
        """Copy a frame into the next slot; returns (slot, seq)."""
        h, w = frame_bgr.shape[:2]
        if w > self.spec.max_width or h > self.spec.max_height or frame_bgr.shape[2:] != (3,):
            raise ValueError(f"frame {w}x{h} does not fit ring {self.spec.name}")
        seq = self._next_seq
        self._next_seq += 1
        slot = seq % self.spec.slots
        header = self._headers[slot]
        header["seq"] = BUSY
        self._pixels[slot][: h * w * 3].reshape(h, w, 3)[:] = frame_bgr
        header["ts"] = ts
        header["width"] = w
        header["height"] = h
        header["seq"] = seq
        return slot, seq

    def read(self, slot: int, seq: int) -> np.ndarray | None:
        """A copy of frame `seq` from `slot`, or None when the ring has already overwritten it."""
        if not 0 <= slot < self.spec.slots:
            return None
        header = self._headers[slot]
        if int(header["seq"][0]) != seq:
            return None
        w, h = int(header["width"][0]), int(header["height"][0])
        if not (0 < w <= self.spec.max_width and 0 < h <= self.spec.max_height):
            return None
        frame = self._pixels[slot][: h * w * 3].reshape(h, w, 3).copy()
        if int(header["seq"][0]) != seq:  # overwritten while we copied
            return None
        return frame

    def latest(self) -> tuple[int, np.ndarray] | None:
        """(seq, a copy) of the newest whole frame, or None: the web page's live view reads it read-only."""
        seqs = [int(h["seq"][0]) for h in self._headers]
        seq = max(seqs)
        frame = self.read(seqs.index(seq), seq) if seq >= 0 else None
        return None if frame is None else (seq, frame)

    def close(self) -> None:
        self._headers.clear()
        self._pixels.clear()
        self._shm.close()

    def unlink(self) -> None:
        """Remove the segment (the creator does this once, at shutdown)."""
        self._shm.unlink()
