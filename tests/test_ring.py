"""The shared-memory frame ring: real segments, sequence numbers, overwrite detection, cleanup."""

from __future__ import annotations

import os
import uuid

import av
import numpy as np
import pytest

from stream.ring import SEQ, FrameRing, RingSpec
from stream.shm import BUSY, Segment


@pytest.fixture
def spec() -> RingSpec:
    return RingSpec(f"dfd-test-{uuid.uuid4().hex[:8]}", slots=3, max_width=64, max_height=48)


@pytest.fixture
def ring(spec):
    r = FrameRing.create(spec)
    yield r
    r.close()
    r.unlink()


def frame(value: int, w: int = 64, h: int = 48) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_a_reader_in_another_mapping_gets_the_frame_and_its_size(ring, spec):
    slot, seq = ring.write(frame(7, 40, 30), ts=12.5)
    reader = FrameRing.attach(spec)
    try:
        got = reader.read(slot, seq)
        assert got.shape == (30, 40, 3) and (got == 7).all()
    finally:
        reader.close()


def test_an_overwritten_frame_is_not_returned(ring):
    first = ring.write(frame(1), 0.0)
    for i in range(3):  # three more writes wrap a ring of three slots
        ring.write(frame(2 + i), 0.0)
    assert ring.read(*first) is None
    latest = ring.write(frame(9), 0.0)
    assert (ring.read(*latest) == 9).all()


def test_a_frame_being_written_is_not_returned(ring, spec):
    slot, seq = ring.write(frame(1), 0.0)
    writer = Segment(spec.name)  # what a reader sees while the writer copies: the slot marked busy
    try:
        SEQ.pack_into(writer.buf, slot * spec.slot_bytes, BUSY)
    finally:
        writer.close()
    assert ring.read(slot, seq) is None


def test_a_pyav_frame_goes_in_as_it_is_even_with_padded_rows(ring):
    """A capture hands on PyAV's converted frame; at 42 px a bgr24 row is 126 bytes, padded in FFmpeg's buffer."""
    image = np.random.default_rng(0).integers(0, 256, (30, 42, 3), np.uint8)
    video_frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    assert video_frame.planes[0].line_size > 42 * 3
    got = ring.read(*ring.write(video_frame, 0.0))
    assert got.shape == (30, 42, 3) and (got == image).all()


def test_a_strided_array_and_the_wrong_pixels(ring):
    image = np.random.default_rng(1).integers(0, 256, (48, 128, 3), np.uint8)[:, ::2]  # not contiguous
    assert (ring.read(*ring.write(image, 0.0)) == image).all()
    with pytest.raises(ValueError, match="bgr24"):
        ring.write(av.VideoFrame.from_ndarray(frame(1)[..., 0], format="gray"), 0.0)
    for dtype in (np.float32, np.int8):  # int8 has uint8's item size: it must not pass as pixels
        with pytest.raises(ValueError, match="uint8"):
            ring.write(np.zeros((48, 64, 3), dtype), 0.0)


def test_bad_slot_or_oversized_frame(ring):
    assert ring.read(99, 0) is None
    with pytest.raises(ValueError):
        ring.write(frame(0, 65, 48), 0.0)


def test_a_restarted_writer_goes_on_after_the_last_sequence_number(ring, spec):
    for _ in range(5):
        ring.write(frame(1), 0.0)
    again = FrameRing.attach(spec)
    try:
        assert again.write(frame(3), 0.0)[1] == 5
    finally:
        again.close()


def test_unlink_removes_the_segment(spec):
    r = FrameRing.create(spec)
    assert os.path.exists(f"/dev/shm/{spec.name}")
    r.close()
    r.unlink()
    assert not os.path.exists(f"/dev/shm/{spec.name}")
