"""Sources and the capture loop, with real clips (PyAV), a real ring and real ZeroMQ sockets."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import random
import shutil
import socket
import threading
import time
import uuid

import av
import numpy as np
import pytest

from edge_model.media import VideoError
from stream import sources
from stream.capture import (
    EXIT_CRASHED,
    EXIT_ENDED,
    EXIT_UNUSABLE,
    Capture,
    CaptureSpec,
    backoff_s,
    run_threads,
)
from stream.capture_spec import CaptureSettings
from stream.config import StreamSection
from stream.events import EventReceiver
from stream.frames import FrameReceiver
from stream.ring import FrameRing, RingSpec
from stream.sources import Source, SourceError, fit_within, make_source, read_frames, split_name
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


def test_names_come_from_the_argument_or_the_source(tmp_path, big_clip):
    clip = shutil.copy(big_clip, tmp_path / "lobby.mp4")
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


@pytest.mark.parametrize("sample_fps, frames", [(0, 30), (5, 10)])  # 2 s of a 15-fps clip: all, or every third
def test_every_frame_due_reaches_the_worker_scaled_into_the_ring(ctx, ring, big_clip, tmp_path, sample_fps, frames):
    ep = ipc_endpoints(tmp_path, ["big"])
    inbox = EventReceiver(ctx, ep.events, None)
    receiver = FrameReceiver(ctx, ep.frames, None, {"big": ring.spec})
    settings = StreamSection(max_width=480, max_height=360, realtime=False, sample_fps=sample_fps)
    spec = CaptureSpec(make_source(str(big_clip)), ep.frames["big"], ep.events, ring.spec, CaptureSettings.of(settings))
    capture, thread, result = run_capture_thread(spec, ctx)
    seqs = []
    while thread.is_alive() or len(seqs) < frames:
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
    assert seqs == list(range(frames))  # in order, none dropped when not realtime
    state = final_state(inbox, "ended")
    assert state.captured == frames and state.dropped == 0
    capture.close()
    receiver.close()
    inbox.close()


def final_state(inbox: EventReceiver, state: str, limit_s: float = 10.0) -> StreamState:
    """The capture's last state message: read until the one saying `state` (messages may still be in flight)."""
    states: list[StreamState] = []
    deadline = time.monotonic() + limit_s
    while not (states and states[-1].state == state) and time.monotonic() < deadline:
        states += [m for m in inbox.recv(0.5) if isinstance(m, StreamState)]
    return states[-1]


def test_without_a_worker_realtime_frames_are_dropped_and_counted(ctx, ring, big_clip, tmp_path):
    ep = ipc_endpoints(tmp_path, ["big"])
    inbox = EventReceiver(ctx, ep.events, None)
    spec = CaptureSpec(make_source(str(big_clip)), ep.frames["big"], ep.events, ring.spec, CaptureSettings.of(StreamSection(max_width=480, max_height=360)))
    capture, thread, result = run_capture_thread(spec, ctx)
    thread.join(30)
    assert result == [EXIT_ENDED]
    last = final_state(inbox, "ended")
    assert last.captured == 30 and last.dropped == 30
    capture.close()
    inbox.close()


def test_a_file_that_is_not_a_video_goes_offline_with_one_line(ctx, ring, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video at all\n")
    ep = ipc_endpoints(tmp_path, ["notes"])
    inbox = EventReceiver(ctx, ep.events, None)
    source = Source("notes", str(bad), "file")  # it became bad after the start (make_source checks it then)
    capture = Capture(CaptureSpec(source, ep.frames["notes"], ep.events, ring.spec, CaptureSettings.of(StreamSection())), ctx, None)
    assert capture.run() == EXIT_UNUSABLE
    last = final_state(inbox, "offline")
    assert last.state == "offline" and "notes.mp4" in last.error and "\n" not in last.error
    capture.close()
    inbox.close()


def test_an_http_source_is_read_and_reopened_when_it_ends(ctx, ring, tmp_path):
    import subprocess
    import sys

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
        CaptureSettings.of(StreamSection(max_width=480, max_height=360, reconnect_base_s=0.1, reconnect_max_s=0.2)),
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


def write_audio_only(path):
    """An AAC track and no video: a file a camera export or a voice memo might leave."""
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("aac", rate=16000)
        stream.layout = "mono"
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("kind", ["empty", "audio-only"])
def test_an_empty_or_audio_only_file_is_one_line_and_exit_2_in_watch_and_scan(kind, tmp_path, capsys):
    from stream.cli import main

    path = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    else:
        write_audio_only(path)
    why = "empty file" if kind == "empty" else "not a video"
    with pytest.raises(SourceError, match=why):
        make_source(str(path))
    for command in (["watch", str(path), "--no-console", "--duration", "5",
                     "--alerts", f"sqlite:///{tmp_path / 'alerts.db'}"], ["scan", str(path)]):
        code = main(command)
        err = capsys.readouterr().err
        assert code == 2, (command, err)
        assert err.count("\n") == 1 and why in err and path.name in err, err


@pytest.fixture
def web(tmp_path):
    """A plain HTTP file server on loopback (Range requests, Content-Length: what a web server gives a file)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def faststart(clip, path):
    """The clip remuxed with its index first, as files meant for the web are (no Range request needed)."""
    with av.open(str(clip)) as src, av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return path


def test_a_file_served_over_http_is_paced_at_its_frame_rate_and_ends_once(ctx, ring, tmp_path, web):
    clip = faststart(make_clip(tmp_path / "clip.mp4", seconds=2.0, fps=15, size=(480, 360)), tmp_path / "served.mp4")
    ep = ipc_endpoints(tmp_path, ["web"])
    inbox = EventReceiver(ctx, ep.events, None)
    receiver = FrameReceiver(ctx, ep.frames, None, {"web": ring.spec})
    spec = CaptureSpec(make_source(f"{web}/{clip.name}", "web"), ep.frames["web"], ep.events, ring.spec,
                       CaptureSettings.of(StreamSection(max_width=480, max_height=360)))
    capture, thread, result = run_capture_thread(spec, ctx)
    stamps: list[float] = []
    deadline = time.monotonic() + 60  # guards against a hang only
    while thread.is_alive():  # a worker that is always ready: every frame the capture offers is taken
        if time.monotonic() > deadline:
            capture.stopping = True
            pytest.fail(f"the served file never ended: {[m for m in inbox.recv(0.1) if isinstance(m, StreamState)][-1:]}")
        frame = receiver.recv(0.5)
        if frame is not None:
            stamps.append(frame.header.ts)
            receiver.ready("web")
    thread.join(10)
    states = [m for m in inbox.recv(1.0) if isinstance(m, StreamState)]
    assert result == [EXIT_ENDED]  # it ended like a local file: not reopened for ever
    assert states[-1].state == "ended" and states[-1].captured == 30 and states[-1].reconnects == 0
    assert not any("stream ended" in s.error for s in states)
    # paced: 30 frames at 15 fps take about 2 s (unpaced they came in a few ms); a generous bound
    assert len(stamps) >= 2
    assert (len(stamps) - 1) / (stamps[-1] - stamps[0]) < 2 * 15
    capture.close()
    receiver.close()
    inbox.close()


@pytest.fixture
def silent_port():
    """A TCP port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_an_open_that_times_out_says_so(scheme, silent_port, monkeypatch):
    monkeypatch.setattr(sources, "OPEN_TIMEOUT_S", 1.0)
    source = make_source(f"{scheme}://viewer@127.0.0.1:{silent_port}/cam", "cam", password="s3cret")
    with pytest.raises(VideoError) as exc:
        next(read_frames(source, fit_within(640, 480)))
    line = str(exc.value)
    assert "timed out" in line and "1 s" in line and f"127.0.0.1:{silent_port}/cam" in line
    assert "Invalid data" not in line and "s3cret" not in line and "\n" not in line


class ScriptedCapture:
    """The part of Capture that run_threads drives: a name, `stopping`, and run()."""

    def __init__(self, name: str, outcome) -> None:
        self.name, self.stopping, self._outcome = name, False, outcome

    def run(self) -> int:
        if callable(self._outcome):
            return self._outcome(self)
        return self._outcome


def until_stopped(capture: ScriptedCapture) -> int:
    deadline = time.monotonic() + 10
    while not capture.stopping and time.monotonic() < deadline:
        time.sleep(0.01)
    return EXIT_ENDED


def test_a_capture_process_exits_unusable_only_when_every_source_is():
    assert run_threads([ScriptedCapture("a", EXIT_UNUSABLE), ScriptedCapture("b", EXIT_UNUSABLE)]) == EXIT_UNUSABLE
    assert run_threads([ScriptedCapture("a", EXIT_UNUSABLE), ScriptedCapture("b", EXIT_ENDED)]) == EXIT_ENDED
    assert run_threads([ScriptedCapture("a", EXIT_ENDED)]) == EXIT_ENDED


def test_a_stream_that_raises_stops_its_process_so_the_supervisor_restarts_it():
    def broken(_: ScriptedCapture) -> int:
        raise RuntimeError("a bug")

    other = ScriptedCapture("b", until_stopped)
    assert run_threads([ScriptedCapture("a", broken), other]) == EXIT_CRASHED
    assert other.stopping  # the other stream was told to stop, not left running alone


def test_a_real_capture_process_whose_stream_raises_exits_1_and_names_the_stream(tmp_path, capfd):
    """The crash path end to end: a bug in one stream's thread ends its process (exit 1, so the supervisor restarts
    it), with one line that names the stream, while the other stream was running."""
    from stream.capture_spec import capture_main
    from stream.launch import Launcher

    clip = make_clip(tmp_path / "a.mp4", seconds=2.0)
    ep = ipc_endpoints(tmp_path, ["good", "bad"])
    good = CaptureSettings.of(StreamSection(loop=True))
    bad = dataclasses.replace(good, max_width=None)  # a bug's stand-in: sizing its first frame raises TypeError
    specs = [CaptureSpec(make_source(str(clip), "good"), ep.frames["good"], ep.events, None, good),
             CaptureSpec(make_source(str(clip), "bad"), ep.frames["bad"], ep.events, None, bad)]
    proc = Launcher().Process(target=capture_main, args=(specs,), name="dfd-good+bad")
    proc.start()
    proc.join(30)
    assert proc.exitcode == EXIT_CRASHED
    err = capfd.readouterr().err
    assert "bad: capture failed" in err and "Traceback" not in err and "good: capture failed" not in err
