"""The ZeroMQ wrappers over real sockets: credits, drops, overwritten frames, malformed messages."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
import zmq

from stream.bus import (
    EventReceiver,
    EventSender,
    FrameReceiver,
    FrameSender,
    ipc_endpoints,
    tcp_endpoints,
)
from stream.messages import AlertEvent, StreamState
from stream.ring import FrameRing, RingSpec


@pytest.fixture
def ring():
    spec = RingSpec(f"dfd-test-{uuid.uuid4().hex[:8]}", slots=2, max_width=32, max_height=24)
    r = FrameRing.create(spec)
    yield r
    r.close()
    r.unlink()


def image(value: int) -> np.ndarray:
    return np.full((24, 32, 3), value, np.uint8)


def wait_credit(sender: FrameSender) -> None:
    assert sender.has_credit(wait_s=5.0), "the worker's credit never arrived"


def test_without_a_worker_a_frame_is_dropped_not_queued(ctx, ring, tmp_path):
    ep = ipc_endpoints(tmp_path, ["a"])
    sender = FrameSender(ctx, "a", ep.frames["a"], ring)
    assert sender.send(image(1), time.time()) is False
    sender.close()


def test_a_frame_goes_out_only_against_a_credit(ctx, ring, tmp_path):
    ep = ipc_endpoints(tmp_path, ["a"])
    sender = FrameSender(ctx, "a", ep.frames["a"], ring)
    receiver = FrameReceiver(ctx, ep.frames, {"a": ring.spec})
    wait_credit(sender)
    assert sender.send(image(5), 1.0)
    assert sender.send(image(6), 2.0) is False  # the one credit is spent
    got = receiver.recv(5.0)
    assert got.header.stream == "a" and got.header.ts == 1.0 and (got.image == 5).all()
    receiver.ready("a")
    wait_credit(sender)
    assert sender.send(image(7), 3.0)
    assert (receiver.recv(5.0).image == 7).all()
    receiver.close()
    sender.close()


def test_a_frame_overwritten_before_it_is_read_is_counted_and_skipped(ctx, ring, tmp_path):
    ep = ipc_endpoints(tmp_path, ["a"])
    sender = FrameSender(ctx, "a", ep.frames["a"], ring)
    receiver = FrameReceiver(ctx, ep.frames, {"a": ring.spec})
    wait_credit(sender)
    assert sender.send(image(1), 1.0)
    ring.write(image(2), 2.0)  # the capture laps the ring of two slots before the worker reads
    ring.write(image(3), 3.0)
    assert receiver.recv(0.5) is None
    assert receiver.counters.skipped["a"] == 1
    wait_credit(sender)  # the skipped frame gave its credit back
    assert sender.send(image(4), 4.0)
    assert (receiver.recv(5.0).image == 4).all()
    receiver.close()
    sender.close()


def test_a_malformed_frame_message_is_counted_and_skipped(ctx, ring, tmp_path):
    ep = ipc_endpoints(tmp_path, ["a"])
    rogue = ctx.socket(zmq.ROUTER)
    rogue.bind(ep.frames["a"])
    receiver = FrameReceiver(ctx, ep.frames, {"a": ring.spec})
    identity, credit = rogue.recv_multipart()
    for junk in (b"frame {not json", b"nonsense", b'frame {"stream":"b","slot":0,"seq":0,"ts":0,"width":1,"height":1}'):
        rogue.send_multipart([identity, junk])
    assert receiver.recv(0.5) is None
    assert receiver.counters.rejected == 3
    receiver.close()
    rogue.close(linger=0)


def test_frames_travel_as_jpeg_over_tcp(ctx):
    port = 42000 + uuid.uuid4().int % 2000
    ep = tcp_endpoints("127.0.0.1", port, ["cam"])
    sender = FrameSender(ctx, "cam", ep.frames["cam"], None)
    receiver = FrameReceiver(ctx, ep.frames)
    wait_credit(sender)
    gradient = np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 8, (24, 1, 3))
    assert sender.send(gradient, 1.0)
    got = receiver.recv(5.0)
    assert got.image.shape == (24, 32, 3)
    assert np.abs(got.image.astype(int) - gradient).mean() < 4
    receiver.close()
    sender.close()


def test_events_arrive_and_malformed_ones_are_counted(ctx, tmp_path):
    ep = ipc_endpoints(tmp_path, [])
    inbox = EventReceiver(ctx, ep.events)
    out = EventSender(ctx, ep.events)
    out.send(StreamState("a", "online", 1.0, captured=3))
    out.send(AlertEvent("new", "id-1", "a", 1, 2.0, 2.0, None, 0.9, 0.9, 0.9, 0.5, "m"))
    raw = ctx.socket(zmq.PUSH)
    raw.connect(ep.events)
    raw.send(b"alert {}")
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 2 or inbox.rejected < 1:
        assert time.monotonic() < deadline
        got += inbox.recv(0.2)
    assert [type(m).__name__ for m in got] == ["StreamState", "AlertEvent"]
    assert got[0].captured == 3 and got[1].alert_id == "id-1"
    raw.close(linger=0)
    out.close()
    inbox.close()
