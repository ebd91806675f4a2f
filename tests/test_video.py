"""Decoding with PyAV: every way a file can be bad gets one VideoError line."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from edge_model.media import VideoError, _Pacer, _Sampler, read_frames
from tests.clips import write_face_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_face_clip(tmp_path_factory.mktemp("v") / "face.mp4", n=20, width=320, height=240)


def test_decodes_every_frame(clip):
    frames = list(read_frames(str(clip)))
    assert [i for i, _ in frames] == list(range(20))
    assert frames[0][1].shape == (240, 320, 3) and frames[0][1].dtype == np.uint8


def test_yuv420p_hands_on_the_planes_that_make_the_bgr_frame(clip):
    (_, bgr), = read_frames(str(clip), max_frames=1)
    (_, yuv), = read_frames(str(clip), max_frames=1, pixels="yuv420p")
    assert yuv.shape == (240 * 3 // 2, 320) and yuv.dtype == np.uint8  # I420: Y, then U and V at half size
    # OpenCV and FFmpeg round BT.601 differently, by a few levels
    assert np.abs(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420).astype(int) - bgr).mean() < 3


def test_sampling_survives_a_stream_clock_that_jumps():
    sampler = _Sampler(10.0)
    steady = [i / 30 for i in range(10)]  # 30 fps: every third frame kept, on the grid of the first
    assert [t for t in steady if sampler.keep(t, 0)] == [0.0, 0.1, 0.2, 0.3]
    ahead = [60.0 + i / 30 for i in range(6)]  # the feed skips a minute: a new grid, not a burst to catch up
    assert [t for t in ahead if sampler.keep(t, 0)] == [60.0, 60.1]
    back = [2.0 + i / 30 for i in range(6)]  # the camera restarts its clock: sampling goes on at once
    assert [t for t in back if sampler.keep(t, 0)] == [2.0, 2.1]


def test_pacing_never_waits_on_a_timestamp_far_ahead():
    """A damaged file's frame stamped an hour on: paced from there, not an hour's sleep."""
    pacer, took = _Pacer(), []

    def play() -> None:
        start = time.monotonic()
        for t in (0.0, 0.02, 3600.0, 3600.02):
            pacer.wait(t)
        took.append(time.monotonic() - start)

    threading.Thread(target=play, daemon=True).start()
    deadline = time.monotonic() + 10.0
    while not took and time.monotonic() < deadline:
        time.sleep(0.01)
    assert took, "the pacer waited out a timestamp an hour ahead"
    assert took[0] >= 0.04  # the two 20-ms steps were still kept


def test_every_and_max_frames(clip):
    assert [i for i, _ in read_frames(str(clip), every=3, max_frames=4)] == [0, 3, 6, 9]


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "truncated", "garbage-middle"])
def test_bad_files(tmp_path, clip, kind):
    path = tmp_path / f"{kind}.mp4"
    data = clip.read_bytes()
    if kind == "text":
        path.write_text("this is not a video\n" * 100)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif kind == "garbage-middle":
        path.write_bytes(data[:64] + bytes(np.random.default_rng(0).integers(0, 256, len(data) - 64, dtype=np.uint8)))
    with pytest.raises(VideoError) as exc:
        list(read_frames(str(path)))
    assert "\n" not in str(exc.value) and path.name in str(exc.value)


def test_clip_fixture_writes_a_face(clip):
    frames = [f for _, f in read_frames(str(clip), max_frames=1)]
    assert frames[0].std() > 20


def test_fps_samples_and_fit_scales(clip):
    frames = list(read_frames(clip, fps=7.5, fit=lambda w, h: (w // 2, h // 2)))
    assert [i for i, _ in frames] == list(range(0, 20, 2))  # the clip is 15 fps
    assert frames[0][1].shape == (120, 160, 3)


def test_a_photo_is_a_one_frame_clip(tmp_path, clip):
    import cv2

    photo = tmp_path / "face.jpg"
    cv2.imwrite(str(photo), next(read_frames(clip))[1])
    assert [(i, f.shape) for i, f in read_frames(photo)] == [(0, (240, 320, 3))]
    (tmp_path / "notes.png").write_text("not a photo")
    with pytest.raises(VideoError, match="notes.png: not a readable image"):
        list(read_frames(tmp_path / "notes.png"))
