"""A shared-memory ring of fixed frame slots, one per stream.

The supervisor creates every ring (so it can unlink them all at shutdown, even
after a capture crashed); the capture writes, the workers read. Each slot has
a header with a sequence number. The writer marks a slot busy (-1) before it
copies a frame in and stamps the new sequence number after; a reader copies
the frame out and checks the number before and after, so a frame that was
overwritten while it waited (or while it was read) is seen and skipped,
never half-read.

The writing side needs no numpy: a capture copies PyAV's converted frame
into its slot as it is (numpy was 17 MiB of a capture's RSS). Readers are
workers and the web page, which have numpy loaded anyway.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from stream.shm import BUSY, HEADER_BYTES, HEADER_FIELDS, RingSpec, Segment, create_ring

if TYPE_CHECKING:
    import numpy as np

SEQ = struct.Struct("<" + HEADER_FIELDS[0][1])  # the header's first field, the sequence number
REST = struct.Struct("<" + "".join(code for _, code in HEADER_FIELDS[1:]))  # ts, width, height

Image = Any  # a BGR image: an (h, w, 3) uint8 numpy array, or a PyAV VideoFrame in bgr24 (a capture's, unconverted)


def _is_video_frame(image: Image) -> bool:
    return hasattr(image, "planes")


def image_rows(image: Image) -> tuple[int, int, int, memoryview]:
    """(width, height, bytes from one row to the next, the pixels as bytes) of a BGR image."""
    if _is_video_frame(image):  # its one plane, rows maybe padded to an alignment
        if image.format.name != "bgr24":
            raise ValueError(f"a {image.format.name} frame: the ring holds bgr24")
        plane = image.planes[0]
        return image.width, image.height, plane.line_size, memoryview(plane).cast("B")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype.name != "uint8":  # int8 would be reread as uint8
        raise ValueError(f"an image of shape {image.shape} ({image.dtype}): the ring holds (h, w, 3) uint8")
    if not image.flags.c_contiguous:
        image = image.copy()
    h, w = image.shape[:2]
    return w, h, w * 3, memoryview(image).cast("B")


def image_size(image: Image) -> tuple[int, int]:
    """(width, height) of a BGR image."""
    return (image.width, image.height) if _is_video_frame(image) else (image.shape[1], image.shape[0])


def image_array(image: Image) -> np.ndarray:
    """A BGR image as a numpy array (a frame sent over tcp:// is a JPEG, which OpenCV encodes from an array)."""
    return image.to_ndarray() if _is_video_frame(image) else image


class FrameRing:
    """Fixed slots of BGR frames in one shared-memory segment."""

    def __init__(self, spec: RingSpec, create: bool = False) -> None:
        self.spec = spec
        self._shm = create_ring(spec) if create else Segment(spec.name)
        if self._shm.size < spec.total_bytes:
            self._shm.close()
            raise ValueError(f"ring {spec.name}: segment is smaller than its spec")
        self._buf = self._shm.buf
        # A restarted writer goes on after the highest number already in the ring.
        self._next_seq = max(0, max(self._seq(slot) for slot in range(spec.slots)) + 1)

    @classmethod
    def create(cls, spec: RingSpec) -> FrameRing:
        return cls(spec, create=True)

    @classmethod
    def attach(cls, spec: RingSpec) -> FrameRing:
        return cls(spec, create=False)

    def _seq(self, slot: int) -> int:
        return SEQ.unpack_from(self._buf, slot * self.spec.slot_bytes)[0]

    def write(self, image: Image, ts: float) -> tuple[int, int]:
        """Copy a frame into the next slot; returns (slot, seq)."""
        w, h, stride, pixels = image_rows(image)
        if w > self.spec.max_width or h > self.spec.max_height:
            raise ValueError(f"frame {w}x{h} does not fit ring {self.spec.name}")
        seq = self._next_seq
        self._next_seq += 1
        slot = seq % self.spec.slots
        at = slot * self.spec.slot_bytes
        SEQ.pack_into(self._buf, at, BUSY)
        row, start = w * 3, at + HEADER_BYTES
        if stride == row:
            self._buf[start:start + h * row] = pixels[:h * row]
        else:
            for y in range(h):
                self._buf[start + y * row:start + (y + 1) * row] = pixels[y * stride:y * stride + row]
        REST.pack_into(self._buf, at + SEQ.size, ts, w, h)
        SEQ.pack_into(self._buf, at, seq)
        return slot, seq

    def read(self, slot: int, seq: int) -> np.ndarray | None:
        """A copy of frame `seq` from `slot`, or None when the ring has already overwritten it."""
        import numpy as np  # a reader's: see the module's docstring

        if not 0 <= slot < self.spec.slots or self._seq(slot) != seq:
            return None
        at = slot * self.spec.slot_bytes
        _, w, h = REST.unpack_from(self._buf, at + SEQ.size)
        if not (0 < w <= self.spec.max_width and 0 < h <= self.spec.max_height):
            return None
        frame = np.frombuffer(self._buf, np.uint8, h * w * 3, at + HEADER_BYTES).reshape(h, w, 3).copy()
        if self._seq(slot) != seq:  # overwritten while we copied
            return None
        return frame

    def latest(self) -> tuple[int, np.ndarray] | None:
        """(seq, a copy) of the newest whole frame, or None: the web page's live view reads it read-only."""
        seqs = [self._seq(slot) for slot in range(self.spec.slots)]
        seq = max(seqs)
        frame = self.read(seqs.index(seq), seq) if seq >= 0 else None
        return None if frame is None else (seq, frame)

    def close(self) -> None:
        self._buf = None
        self._shm.close()

    def unlink(self) -> None:
        """Remove the segment (the creator does this once, at shutdown)."""
        self._shm.unlink()
