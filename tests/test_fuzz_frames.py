"""Fuzzing a worker's frame socket: malformed frame messages are counted and skipped, the next good frame gets through.

The worker's end (FrameReceiver) is real: a DEALER on ipc:// with a real
shared-memory ring. The test plays a capture gone wrong: a ROUTER that sends
random headers, headers of other streams, slots and sequence numbers that are
not in the ring, and JPEG payloads that are not JPEG. After each bad message
it sends one good frame, which must arrive, with the bad one counted once.
"""

from __future__ import annotations

import json
import os
import uuid

import cv2
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.frames import FrameReceiver
from stream.ring import FrameRing, RingSpec
from stream.transport import ipc_endpoints
from stream.wire import FrameReady, encode

FUZZ = settings(
    max_examples=int(os.environ.get("DFD_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _header(**changes) -> bytes:
    body = {"stream": "cam", "slot": 0, "seq": 0, "ts": 1.0, "width": 32, "height": 24, **changes}
    return b"frame " + json.dumps(body).encode()


def _jpeg(width: int, height: int) -> bytes:
    return cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))[1].tobytes()


ints = st.integers(-(2**70), 2**70)
bad_messages = st.one_of(
    st.lists(st.binary(max_size=64), min_size=1, max_size=4),  # anything at all
    st.tuples(st.just(_header(stream="other"))).map(list),  # another stream's frame on this socket
    st.builds(lambda slot, seq: [_header(slot=slot, seq=seq)], ints, ints),  # not in the ring
    st.builds(lambda data: [_header(), data], st.binary(max_size=300)),  # a "JPEG" that is not one
    st.builds(lambda data: [_header(), b"\xff\xd8\xff" + data], st.binary(max_size=300)),  # a JPEG start
    st.builds(lambda n: [_header()] + [b"x"] * n, st.integers(2, 5)),  # too many parts
    st.builds(lambda w, h: [_header(), _jpeg(w, h)], st.integers(1, 40), st.integers(1, 40)).filter(
        lambda m: m[1] != _jpeg(32, 24)
    ),  # a real JPEG, not the size its header says
)


@pytest.fixture
def rig(tmp_path):
    spec = RingSpec(f"dfd-fuzz-{uuid.uuid4().hex[:8]}", slots=2, max_width=32, max_height=24)
    ring = FrameRing.create(spec)
    ctx = zmq.Context()
    ep = ipc_endpoints(tmp_path, ["cam"])
    capture = ctx.socket(zmq.ROUTER)
    capture.linger = 0
    capture.bind(str(ep.frames["cam"]))
    receiver = FrameReceiver(ctx, ep.frames, None, {"cam": spec})
    assert capture.poll(10_000), "the worker's credit never arrived"
    identity, credit = capture.recv_multipart()
    try:
        yield ring, capture, identity, receiver
    finally:
        receiver.close()
        capture.close()
        ctx.term()
        ring.close()
        ring.unlink()


@FUZZ
@given(bad=bad_messages)
def test_a_bad_frame_message_is_counted_and_the_next_good_one_arrives(rig, bad):
    ring, capture, identity, receiver = rig
    before = receiver.counters.rejected + receiver.counters.skipped["cam"]
    capture.send_multipart([identity, *bad])
    image = np.random.default_rng().integers(0, 255, (24, 32, 3), dtype=np.uint8)
    slot, seq = ring.write(image, 2.0)
    capture.send_multipart([identity, encode(FrameReady("cam", slot, seq, 2.0, 32, 24))])
    frame = receiver.recv(10.0)
    if frame is not None and frame.header.seq != seq:  # the random message happened to be a valid frame
        frame = receiver.recv(10.0)
    else:
        assert receiver.counters.rejected + receiver.counters.skipped["cam"] == before + 1
    assert frame is not None and frame.header.seq == seq
    assert np.array_equal(frame.image, image)
