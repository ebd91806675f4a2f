"""The transport over real sockets: endpoints, credits, drops, overwritten frames, fair turns, malformed messages."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest
import zmq

from stream.events import DirectoryServer, EventReceiver, EventSender, fetch_directory
from stream.frames import CREDITS, FrameReceiver, FrameSender
from stream.ring import FrameRing, RingSpec
from stream.transport import (
    Endpoint,
    TransportError,
    host_and_port,
    ipc_endpoints,
    open_socket,
    tcp_endpoints,
)
from stream.wire import AlertEvent, FrameReady, ScoreEvent, StreamState, encode


@pytest.fixture
def ring():
    spec = RingSpec(f"dfd-test-{uuid.uuid4().hex[:8]}", slots=CREDITS + 1, max_width=32, max_height=24)
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
    sender = FrameSender(ctx, ep.frames["a"], None, "a", ring)
    assert sender.send(image(1), time.time()) is False
    sender.close()


def test_frames_go_out_only_against_credits(ctx, ring, tmp_path):
    """A worker starts with CREDITS credits (a frame it works on, the rest wait) and gives one back per frame."""
    ep = ipc_endpoints(tmp_path, ["a"])
    sender = FrameSender(ctx, ep.frames["a"], None, "a", ring)
    receiver = FrameReceiver(ctx, ep.frames, None, {"a": ring.spec})
    for value in range(CREDITS):
        wait_credit(sender)
        assert sender.send(image(value), float(value))
    assert sender.send(image(9), 9.0) is False  # every credit is spent
    for value in range(CREDITS):  # in order
        got = receiver.recv(5.0)
        assert got.header.stream == "a" and got.header.ts == value and (got.image == value).all()
    receiver.ready("a")
    wait_credit(sender)
    assert sender.send(image(7), 7.0)
    assert sender.send(image(8), 8.0) is False
    assert (receiver.recv(5.0).image == 7).all()
    receiver.close()
    sender.close()


def test_credits_sent_again_do_not_grow_the_queue(ctx, ring, tmp_path):
    """A worker re-sends its credits on a silent stream; the capture caps them, so at most CREDITS frames wait."""
    ep = ipc_endpoints(tmp_path, ["a"])
    sender = FrameSender(ctx, ep.frames["a"], None, "a", ring)
    receiver = FrameReceiver(ctx, ep.frames, None, {"a": ring.spec})
    receiver.ready("a", 2 * CREDITS)
    sent = 0
    while sender.has_credit(wait_s=0.5):
        assert sender.send(image(sent), float(sent))
        sent += 1
    assert sent == CREDITS
    receiver.close()
    sender.close()


def test_a_frame_overwritten_before_it_is_read_is_counted_and_skipped(ctx, ring, tmp_path):
    ep = ipc_endpoints(tmp_path, ["a"])
    sender = FrameSender(ctx, ep.frames["a"], None, "a", ring)
    receiver = FrameReceiver(ctx, ep.frames, None, {"a": ring.spec})
    wait_credit(sender)
    assert sender.send(image(1), 1.0)
    for value in range(2, 2 + ring.spec.slots):  # the capture laps the ring before the worker reads
        ring.write(image(value), float(value))
    assert receiver.recv(0.5) is None
    assert receiver.counters.skipped["a"] == 1
    wait_credit(sender)
    assert sender.send(image(4), 4.0)
    assert (receiver.recv(5.0).image == 4).all()
    receiver.close()
    sender.close()


def test_a_malformed_frame_message_is_counted_and_skipped(ctx, ring, tmp_path):
    ep = ipc_endpoints(tmp_path, ["a"])
    rogue = ctx.socket(zmq.ROUTER)
    rogue.bind(str(ep.frames["a"]))
    receiver = FrameReceiver(ctx, ep.frames, None, {"a": ring.spec})
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
    sender = FrameSender(ctx, ep.frames["cam"], None, "cam", None)
    receiver = FrameReceiver(ctx, ep.frames, None)
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
    inbox = EventReceiver(ctx, ep.events, None)
    out = EventSender(ctx, ep.events, None)
    out.send(StreamState("a", "online", 1.0, 0.5, captured=3))
    out.send(AlertEvent("new", "id-1", "a", 1, 2.0, 2.0, None, 0.9, 0.9, 0.9, 0.5, "m"))
    raw = ctx.socket(zmq.PUSH)
    raw.connect(str(ep.events))
    raw.send(b"alert {}")
    raw.send(encode(FrameReady("a", 0, 0, 1.0, 32, 24)))  # well formed, but not an event
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 2 or inbox.rejected < 2:
        assert time.monotonic() < deadline
        got += inbox.recv(0.2)
    assert [type(m).__name__ for m in got] == ["StreamState", "AlertEvent"]
    assert got[0].captured == 3 and got[1].alert_id == "id-1"
    raw.close(linger=0)
    out.close()
    inbox.close()


def test_held_events_leave_together_before_an_alert_and_at_close(ctx, tmp_path):
    ep = ipc_endpoints(tmp_path, [])
    inbox = EventReceiver(ctx, ep.events, None)
    out = EventSender(ctx, ep.events, None, hold_s=3600.0)  # nothing is due on its own in this test
    for seq in range(3):
        assert out.send(ScoreEvent("a", 1, seq, 1.0, 1.0, 0.5))
    out.flush()
    assert inbox.recv(0.3) == []  # held, not due
    out.send(AlertEvent("new", "id-1", "a", 1, 2.0, 2.0, None, 0.9, 0.9, 0.9, 0.5, "m"))
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 4:
        assert time.monotonic() < deadline
        got += inbox.recv(0.2)
    assert [(type(m).__name__, getattr(m, "seq", None)) for m in got] == [
        ("ScoreEvent", 0), ("ScoreEvent", 1), ("ScoreEvent", 2), ("AlertEvent", None)]
    out.send(StreamState("a", "online", 3.0, 0.5))
    out.close()  # what is held goes out at close
    while not got[4:]:
        assert time.monotonic() < deadline
        got += inbox.recv(0.2)
    assert type(got[4]).__name__ == "StreamState"
    inbox.close()


def test_a_malformed_part_of_a_grouped_message_is_counted_and_the_rest_kept(ctx, tmp_path):
    ep = ipc_endpoints(tmp_path, [])
    inbox = EventReceiver(ctx, ep.events, None)
    raw = ctx.socket(zmq.PUSH)
    raw.connect(str(ep.events))
    raw.send_multipart([encode(ScoreEvent("a", 1, 7, 1.0, 1.0, 0.5)), b"score {", encode(FrameReady("a", 0, 0, 1.0, 32, 24))])
    got = []
    deadline = time.monotonic() + 5
    while not got:
        assert time.monotonic() < deadline
        got += inbox.recv(0.2)
    assert [m.seq for m in got] == [7] and inbox.rejected == 2
    raw.close(linger=0)
    inbox.close()


def test_a_group_of_more_events_than_a_batch_is_cut_and_the_rest_counted(ctx, tmp_path, monkeypatch):
    monkeypatch.setattr("stream.events.MAX_BATCH", 3)
    ep = ipc_endpoints(tmp_path, [])
    inbox = EventReceiver(ctx, ep.events, None)
    raw = ctx.socket(zmq.PUSH)
    raw.connect(str(ep.events))
    raw.send_multipart([encode(ScoreEvent("a", 1, seq, 1.0, 1.0, 0.5)) for seq in range(5)])
    got = []
    deadline = time.monotonic() + 5
    while not got:
        assert time.monotonic() < deadline
        got += inbox.recv(0.2)
    assert [m.seq for m in got] == [0, 1, 2] and inbox.rejected == 2
    raw.close(linger=0)
    inbox.close()


def test_a_worker_takes_its_streams_in_turn(ctx, tmp_path):
    """Six streams that always have a frame, one worker: each gets a near-equal share, the last ones too.

    Served in the order the sockets were registered, the first streams took
    nearly every frame and the last ones starved (issues 15 and 17).
    """
    names = [f"s{i}" for i in range(6)]
    ep = ipc_endpoints(tmp_path, names)
    rings = {n: FrameRing.create(RingSpec(f"dfd-test-{uuid.uuid4().hex[:8]}", CREDITS + 1, 32, 24)) for n in names}
    senders = [FrameSender(ctx, ep.frames[n], None, n, rings[n]) for n in names]
    receiver = FrameReceiver(ctx, ep.frames, None, {n: r.spec for n, r in rings.items()})
    stop = threading.Event()

    def capture(sender: FrameSender) -> None:  # always a fresh frame, sent as soon as there is a credit
        while not stop.is_set():
            if sender.has_credit(wait_s=0.05):
                sender.send(image(1), time.time())

    threads = [threading.Thread(target=capture, args=(s,), daemon=True) for s in senders]
    for t in threads:
        t.start()
    counts = dict.fromkeys(names, 0)
    try:
        for _ in range(40 * len(names)):
            frame = receiver.recv(10.0)
            assert frame is not None, "no frame from any stream"
            counts[frame.header.stream] += 1
            time.sleep(0.002)  # the work on a frame: meanwhile the other streams' next frames arrive
            receiver.ready(frame.header.stream)
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        receiver.close()
        for sender in senders:
            sender.close()
        for r in rings.values():
            r.close()
            r.unlink()
    assert max(counts.values()) - min(counts.values()) <= 10, counts


def test_endpoints_are_parsed_once_and_a_bad_one_is_one_line():
    for text in ("ipc:///run/dfd-x/events", "tcp://127.0.0.1:5571", "tcp://[::1]:5571", "tcp://cam-host:80"):
        assert str(Endpoint.parse(text)) == text
    assert Endpoint.parse("tcp://[::1]:5571") == Endpoint("tcp", "::1", 5571)  # the host without brackets
    for bad in ("", "127.0.0.1:5571", "udp://h:1", "tcp://h", "tcp://:5571", "tcp://h:0", "tcp://h:99999", "ipc://"):
        with pytest.raises(TransportError, match="expected ipc://PATH or tcp://HOST:PORT") as exc:
            Endpoint.parse(bad)
        assert "\n" not in str(exc.value)


def test_a_host_to_connect_to_may_be_ipv6():
    assert host_and_port("cam-host", 5570) == ("cam-host", 5570)
    assert host_and_port("10.0.0.2:6000", 5570) == ("10.0.0.2", 6000)
    assert host_and_port("::1", 5570) == ("::1", 5570)
    assert host_and_port("[::1]:6000", 5570) == ("::1", 6000)
    for bad in ("", ":6000", "host:port", "[::1]:x"):
        with pytest.raises(TransportError, match="expected HOST"):
            host_and_port(bad, 5570)


def test_the_socket_factory_refuses_a_network_bind_without_keys(ctx):
    with pytest.raises(TransportError, match="not a loopback address"):
        open_socket(ctx, zmq.PULL, Endpoint("tcp", "0.0.0.0", 5571), None, bind=True)


def test_a_remote_worker_learns_the_endpoints_at_the_host_it_asked(ctx):
    port = 44000 + uuid.uuid4().int % 2000
    ep = tcp_endpoints("127.0.0.1", port, ["door", "hall"])
    server = DirectoryServer(ctx, ep, None, "model-1")
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.serve()
            time.sleep(0.01)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        got, model_id = fetch_directory(ctx, "localhost", port, None, timeout_s=10.0)
    finally:
        stop.set()
        thread.join(5)
        server.close()
    assert model_id == "model-1"
    assert got.events == Endpoint("tcp", "localhost", port + 1)
    assert got.frames == {n: Endpoint("tcp", "localhost", port + 2 + i) for i, n in enumerate(["door", "hall"])}


def test_a_batch_takes_one_waiting_frame_per_stream_and_never_waits_to_fill(ctx, tmp_path):
    names = ["a", "b", "c"]
    ep = ipc_endpoints(tmp_path, names)
    rings = {n: FrameRing.create(RingSpec(f"dfd-test-{uuid.uuid4().hex[:8]}", CREDITS + 1, 32, 24)) for n in names}
    senders = {n: FrameSender(ctx, ep.frames[n], None, n, rings[n]) for n in names}
    receiver = FrameReceiver(ctx, ep.frames, None, {n: r.spec for n, r in rings.items()})
    try:
        for n, value in (("a", 1), ("b", 2)):
            wait_credit(senders[n])
            assert senders[n].send(image(value), time.time())
        deadline = time.monotonic() + 5
        batch: list = []
        while len(batch) < 2 and time.monotonic() < deadline:  # both frames in flight: one batch, or two
            batch += receiver.recv_batch(1.0, most=4)
        assert sorted((f.header.stream, int(f.image[0, 0, 0])) for f in batch) == [("a", 1), ("b", 2)]
        for n in ("a", "b"):
            receiver.ready(n)
        wait_credit(senders["c"])
        assert senders["c"].send(image(3), time.time())
        lone = receiver.recv_batch(5.0, most=4)
        assert [f.header.stream for f in lone] == ["c"]  # it did not wait for a, b to fill the batch
        assert receiver.recv_batch(0.1, most=4) == []
        for n, value in (("a", 4), ("b", 5)):
            wait_credit(senders[n])
            assert senders[n].send(image(value), time.time())
        time.sleep(0.3)  # both waiting now
        assert len(receiver.recv_batch(5.0, most=1)) == 1  # `most` caps the batch
    finally:
        receiver.close()
        for n in names:
            senders[n].close()
            rings[n].close()
            rings[n].unlink()
