"""Truncated and corrupted real video files: `dfd scan` and the capture fail cleanly, or decode what they can.

The clips are real H.264 in three containers (mp4 keeps its index at the end,
Matroska and MPEG-TS can be read in part), cut or overwritten at random
offsets. `dfd scan` must exit 0 (a report) or 2 (one error line), never with a
traceback; the capture must end its file ("ended") or go offline with a
one-line error, never crash.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.capture import EXIT_ENDED, EXIT_UNUSABLE, Capture, CaptureSpec
from stream.capture_spec import CaptureSettings
from stream.cli import main
from stream.config import StreamSection
from stream.events import EventReceiver
from stream.sources import Source
from stream.transport import ipc_endpoints
from stream.wire import StreamState
from tests.clips import write_face_clip

FUZZ = settings(
    max_examples=int(os.environ.get("DFD_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CONTAINERS = ("mp4", "mkv", "ts")
HANG_S = 60.0  # a 16-frame clip takes about half a second; far longer than this is a hang


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("clips")
    return {
        ext: write_face_clip(d / f"face.{ext}", n=16, width=320, height=240, fps=30).read_bytes()
        for ext in CONTAINERS
    }


@st.composite
def damage(draw, size: int) -> list[tuple[str, int, bytes]]:
    """A list of (cut | overwrite | zero, offset, bytes) edits."""
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cut", "overwrite", "zero"]))
        offset = draw(st.integers(0, size - 1))
        data = draw(st.binary(min_size=1, max_size=256)) if kind == "overwrite" else b""
        length = draw(st.integers(1, 4096)) if kind == "zero" else 0
        edits.append((kind, offset, data or bytes(length)))
    return edits


def _damaged(clip: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    b = bytearray(clip)
    for kind, offset, data in edits:
        offset = min(offset, len(b))
        if kind == "cut":
            del b[offset:]
        else:
            b[offset : offset + len(data)] = data
    return bytes(b)


@st.composite
def damaged_clips(draw, clips_of) -> tuple[str, bytes]:
    ext = draw(st.sampled_from(CONTAINERS))
    clip = clips_of[ext]
    return ext, _damaged(clip, draw(damage(len(clip))))


def _write(tmp_path_factory, ext: str, data: bytes) -> Path:
    path = tmp_path_factory.mktemp("bad") / f"clip.{ext}"
    path.write_bytes(data)
    return path


def test_scan_fails_cleanly_on_damaged_video(clips, tiny_model, tmp_path_factory, capsys):
    @FUZZ
    @given(damaged_clips(clips))
    def check(case):
        path = _write(tmp_path_factory, *case)
        code = main(["scan", str(path), "--json", "--model", str(tiny_model)])
        out, err = capsys.readouterr()
        if code == 0:
            report = json.loads(out)
            assert report["video"] == str(path) and report["frames"] >= 1
            if report["complete"]:
                assert err == ""
            else:  # a damaged file that still decodes in part: scored, and said on one stderr line
                assert err.count("\n") == 1 and err.startswith(f"dfd scan: {path}: decoding stopped early (")
        else:
            assert code == 2 and out == ""
            assert err.count("\n") == 1 and err.startswith("dfd scan: error: ") and str(path) in err

    check()


def test_capture_ends_or_goes_offline_cleanly_on_damaged_video(clips, tmp_path_factory):
    ctx = zmq.Context()
    try:

        @FUZZ
        @given(damaged_clips(clips))
        def check(case):
            d = tmp_path_factory.mktemp("cap")
            path = _write(tmp_path_factory, *case)
            ep = ipc_endpoints(d, ["cam"])
            inbox = EventReceiver(ctx, ep.events, None)
            spec = CaptureSpec(
                Source("cam", str(path), "file"), ep.frames["cam"], ep.events, None, CaptureSettings.of(StreamSection())
            )
            capture = Capture(spec, ctx, None)  # paced in real time, no worker: every frame is dropped and counted
            result: list[int | BaseException] = []

            def run() -> None:
                try:
                    result.append(capture.run())
                except BaseException as exc:  # a crash of the capture process, seen from here
                    result.append(exc)

            runner = threading.Thread(target=run, daemon=True)
            runner.start()
            runner.join(HANG_S)
            if runner.is_alive():
                capture.stopping = True
                pytest.fail(f"the capture hung on a damaged .{case[0]} clip ({path})")
            capture.close()
            code = result[0]
            if isinstance(code, BaseException):
                raise AssertionError(f"the capture crashed: {code!r}") from code
            states = [m for m in inbox.recv(5.0) if isinstance(m, StreamState)]
            while True:  # everything the capture said before it returned
                more = [m for m in inbox.recv(0.2) if isinstance(m, StreamState)]
                if not more:
                    break
                states += more
            inbox.close()
            assert code in (EXIT_ENDED, EXIT_UNUSABLE)
            last = states[-1]
            if code == EXIT_ENDED:
                assert last.state == "ended" and last.captured >= 1
            else:
                assert last.state == "offline" and last.error.count("\n") == 0 and str(path) in last.error

        check()
    finally:
        ctx.destroy(linger=0)


def test_the_undamaged_clips_decode(clips, tiny_model, tmp_path_factory, capsys):
    for ext, data in clips.items():
        path = _write(tmp_path_factory, ext, data)
        assert main(["scan", str(path), "--json", "--model", str(tiny_model)]) == 0
        assert json.loads(capsys.readouterr().out)["frames"] == 16, ext


def test_a_file_cut_to_nothing_is_one_line(tmp_path, tiny_model, capsys):
    path = tmp_path / f"{uuid.uuid4().hex}.mp4"
    path.write_bytes(b"")
    assert main(["scan", str(path), "--model", str(tiny_model)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err


def test_bad_bytes_in_the_metadata_do_not_stop_the_video(clips, tiny_model, tmp_path_factory, capsys):
    """Found by fuzzing: invalid UTF-8 in an mp4's tool name crashed `dfd scan` and the capture."""
    data = bytearray(clips["mp4"])
    at = data.find(b"Lavf")
    assert at > 0
    data[at : at + 4] = b"\xff\xfe\x80\x99"
    path = _write(tmp_path_factory, "mp4", bytes(data))
    assert main(["scan", str(path), "--json", "--model", str(tiny_model)]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 16
