"""Sources and the capture loop, with real clips (PyAV), a real ring and real ZeroMQ sockets."""

from __future__ import annotations

import random
import threading
import uuid

import pytest

from stream.capture import EXIT_ENDED, EXIT_UNUSABLE, Capture, CaptureSpec, backoff_s
from stream.config import StreamSection
from stream.events import EventReceiver
from stream.frames import FrameReceiver
from stream.ring import FrameRing, RingSpec
from stream.sources import SourceError, fit_within, make_source, split_name
from stream.transport import ipc_endpoints
from stream.wire import StreamState
from tests.stream_clips import make_clip


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "big.mp4", seconds=2.0, fps=15, size=(960, 720))


@pytest.fixture
def ring():
    r = FrameRing.create(RingSpec(f"dfd-test-{uuid.uuid4().hex[:8]}", 4, 480, 360))
    yield r
    r.close()
    r.unlink()


def test_names_come_from_the_argument_or_the_source(tmp_path):
    clip = tmp_path / "lobby.mp4"
    clip.write_bytes(b"x")
    assert split_name("door=rtsp://h/s") == ("door", "rtsp://h/s")
    assert split_name("http://h/live?a=b") == (None, "http://h/live?a=b")
    taken: set[str] = set()
    names = [make_source(u, None, None, taken).name for u in (str(clip), str(clip), "rtsp://cam.local/x", "0")]
    assert names == ["lobby", "lobby-2", "cam.local", "webcam0"]
    with pytest.raises(SourceError, match="used twice"):
        make_source("rtsp://h/x", "lobby", None, taken)


@pytest.mark.parametrize(
    "url, message",
    [("/no/such/clip.mp4", "no such file"), ("ftp://h/x", "unknown source scheme"), ("demo://other", "demo streams"),
     ("rtsp:///nohost", "names no host")],
)
def test_a_bad_source_is_one_clear_line(url, message):
    with pytest.raises(SourceError, match=message) as exc:
        make_source(url)
    assert "\n" not in str(exc.value)


def test_a_password_from_the_environment_is_used_but_never_shown():
    src = make_source("rtsp://admin@192.0.2.10/s1", "door", password="s3cret")
    assert "s3cret" in src.url
    assert "s3cret" not in src.shown and "admin:***@" in src.shown


def test_frames_are_scaled_down_to_fit_never_up():
    fit = fit_within(640, 360)
    assert fit(1920, 1080) == (640, 360)
    assert fit(1000, 1000) == (360, 360)
    assert fit(320, 240) == (320, 240)


def test_backoff_grows_with_jitter_up_to_the_cap():
    rng = random.Random(1)
    waits = [backoff_s(a, 0.5, 8.0, rng) for a in range(10)]
    assert 0.25 <= waits[0] <= 0.5
    assert all(4.0 <= w <= 8.0 for w in waits[5:])
    assert len({round(w, 6) for w in waits[5:]}) == 5  # jittered, not synchronized


def run_capture_thread(spec: CaptureSpec, ctx) -> tuple[Capture, threading.Thread, list]:
    capture = Capture(spec, ctx, None)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(capture.run()), daemon=True)
    thread.start()
    return capture, thread, result


def test_every_frame_of_a_file_reaches_the_worker_scaled_into_the_ring(ctx, ring, big_clip, tmp_path):
    ep = ipc_endpoints(tmp_path, ["big"])
    inbox = EventReceiver(ctx, ep.events, None)
    receiver = FrameReceiver(ctx, ep.frames, None, {"big": ring.spec})
    spec = CaptureSpec(make_source(str(big_clip)), ep.frames["big"], ep.events, ring.spec, StreamSection(max_width=480, max_height=360, realtime=False))
    capture, thread, result = run_capture_thread(spec, ctx)
    seqs = []
    while thread.is_alive() or len(seqs) < 30:
        frame = receiver.recv(1.0)
        if frame is None:
            if not thread.is_alive():
                break
            continue
        assert frame.image.shape == (360, 480, 3)
        seqs.append(frame.header.seq)
        receiver.ready("big")
    thread.join(10)
    assert result == [EXIT_ENDED]
    assert seqs == list(range(30))  # 2 s at 15 fps, in order, none dropped when not realtime
    states = [m for m in inbox.recv(1.0) if isinstance(m, StreamState)]
    assert states[-1].state == "ended" and states[-1].captured == 30 and states[-1].dropped == 0
    capture.close()
    receiver.close()
    inbox.close()


def test_without_a_worker_realtime_frames_are_dropped_and_counted(ctx, ring, big_clip, tmp_path):
    ep = ipc_endpoints(tmp_path, ["big"])
    inbox = EventReceiver(ctx, ep.events, None)
    spec = CaptureSpec(make_source(str(big_clip)), ep.frames["big"], ep.events, ring.spec, StreamSection(max_width=480, max_height=360))
    capture, thread, result = run_capture_thread(spec, ctx)
    thread.join(30)
    assert result == [EXIT_ENDED]
    last = [m for m in inbox.recv(1.0) if isinstance(m, StreamState)][-1]
    assert last.captured == 30 and last.dropped == 30
    capture.close()
    inbox.close()


def test_a_file_that_is_not_a_video_goes_offline_with_one_line(ctx, ring, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video at all\n")
    ep = ipc_endpoints(tmp_path, ["notes"])
    inbox = EventReceiver(ctx, ep.events, None)
    capture = Capture(CaptureSpec(make_source(str(bad)), ep.frames["notes"], ep.events, ring.spec, StreamSection()), ctx, None)
    assert capture.run() == EXIT_UNUSABLE
    last = [m for m in inbox.recv(1.0) if isinstance(m, StreamState)][-1]
    assert last.state == "offline" and "notes.mp4" in last.error and "\n" not in last.error
    capture.close()
    inbox.close()


def test_an_http_source_is_read_and_reopened_when_it_ends(ctx, ring, tmp_path):
    import subprocess
    import sys
    import time

    from tests.test_rtsp import free_port

    clip = make_clip(tmp_path / "web.ts", seconds=2.0, fps=15, size=(480, 360))  # MPEG-TS streams over plain HTTP
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    ep = ipc_endpoints(tmp_path, ["web"])
    inbox = EventReceiver(ctx, ep.events, None)
    source = make_source(f"http://127.0.0.1:{port}/{clip.name}", "web")
    spec = CaptureSpec(
        source, ep.frames["web"], ep.events, ring.spec,
        StreamSection(max_width=480, max_height=360, reconnect_base_s=0.1, reconnect_max_s=0.2),
    )
    capture, thread, _ = run_capture_thread(spec, ctx)
    states: list[StreamState] = []
    deadline = time.monotonic() + 60  # guards against a hang only
    try:
        while not any(s.reconnects >= 1 and s.captured > 30 for s in states):  # one full pass, then again
            assert thread.is_alive() and time.monotonic() < deadline, states[-1:]
            states += [m for m in inbox.recv(1.0) if isinstance(m, StreamState)]
    finally:
        capture.stopping = True
        thread.join(15)
        server.kill()
        server.wait()
    assert "online" in {s.state for s in states}
    capture.close()
    inbox.close()
