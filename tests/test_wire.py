"""The wire format: messages round-trip, every malformed frame is a MessageError, frames travel as header or JPEG."""

from __future__ import annotations

import numpy as np
import pytest

from stream.wire import (
    AlertEvent,
    Directory,
    FrameReady,
    MessageError,
    ScoreEvent,
    StreamState,
    WorkerStats,
    decode,
    encode,
    frame_parts,
    read_frame_parts,
    to_dict,
)


def test_round_trip():
    msgs = [
        FrameReady("cam", 3, 42, 1.5, 640, 480),
        ScoreEvent("cam", 1, 42, 1.5, 1.6, 0.93),
        AlertEvent("new", "id-1", "cam", 1, 2.0, 1.0, None, 0.9, 0.9, 0.85, 0.5, "m", {"face": "f.jpg"}),
        StreamState("cam", "online", 2.0, 1.0, reconnects=1, captured=10, dropped=2),
        WorkerStats("w0", "cam", 3.0, 1.0, 25, 1, 0, 1, [12.5]),
        Directory("tcp://127.0.0.1:5571", {"cam": "tcp://127.0.0.1:5572"}, "m"),
    ]
    for m in msgs:
        assert decode(encode(m)) == m


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"frame",
        b"nosuch {}",
        b"frame not-json",
        b"frame [1, 2]",
        b'frame {"stream": "a"}',
        b'frame {"stream": 1, "slot": 0, "seq": 0, "ts": 0.0, "width": 1, "height": 1}',
        b'frame {"stream": "a", "slot": -1, "seq": 0, "ts": 0.0, "width": 1, "height": 1}',
        b'frame {"stream": "a", "slot": 0, "seq": 0, "ts": 0.0, "width": 1, "height": 1, "x": 1}',
        b'score {"stream": "a", "track": true, "seq": 0, "frame_ts": 0, "ts": 0, "p_fake": 0.1}',
        b"frame \xff\xfe",
        b'frame {"stream": "a", "slot": "0", "seq": 0, "ts": 0.0, "width": 1, "height": 1}',
        b'frame {"stream": "a", "slot": 0, "seq": 0, "ts": 0.0, "width": 1.0, "height": 1}',
        b'frame {"stream": "a", "slot": 0, "seq": 0, "ts": "0", "width": 1, "height": 1}',
        b'frame {"stream": "a", "slot": 0, "seq": 0, "ts": true, "width": 1, "height": 1}',
        b'state {"stream": "a", "state": "on", "ts": 0.0, "started_at": 0.0}',
        b'stats {"worker": "w", "stream": "a", "ts": 0, "started_at": 0, "processed": -1, "dropped": 0, "rejected": 0,'
        b' "faces": 0}',
        b"frame " + b" " * (1 << 20),
    ],
)
def test_malformed_is_rejected(frame):
    with pytest.raises(MessageError):
        decode(frame)


def test_a_receiver_can_ask_for_the_kinds_it_expects():
    frame = encode(FrameReady("cam", 0, 1, 1.0, 4, 4))
    assert decode(frame, (FrameReady,)) == FrameReady("cam", 0, 1, 1.0, 4, 4)
    with pytest.raises(MessageError, match="unexpected frame message"):
        decode(frame, (StreamState, AlertEvent))


def test_to_dict_names_the_type_for_json_lines():
    assert to_dict(ScoreEvent("cam", 1, 42, 1.5, 1.6, 0.93)) == {
        "type": "score", "stream": "cam", "track": 1, "seq": 42, "frame_ts": 1.5, "ts": 1.6, "p_fake": 0.93,
    }


def test_a_frame_travels_as_its_header_or_with_a_jpeg():
    header = FrameReady("cam", 2, 7, 1.0, 32, 24)
    assert read_frame_parts(frame_parts(header, None)) == (header, None)
    gradient = np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 8, (24, 1, 3))
    got, image = read_frame_parts(frame_parts(header, gradient))
    assert got == header and image.shape == (24, 32, 3)
    assert np.abs(image.astype(int) - gradient).mean() < 4


@pytest.mark.parametrize(
    "parts",
    [
        [],
        [encode(FrameReady("cam", 0, 0, 1.0, 32, 24)), b"not a jpeg"],
        [encode(FrameReady("cam", 0, 0, 1.0, 32, 24)), b""],
        frame_parts(FrameReady("cam", 0, 0, 1.0, 32, 24), np.zeros((20, 32, 3), np.uint8)),  # not the size it says
        [encode(FrameReady("cam", 0, 0, 1.0, 32, 24)), b"x", b"y"],
        [encode(ScoreEvent("cam", 1, 42, 1.5, 1.6, 0.93))],
    ],
)
def test_a_bad_frame_is_a_message_error(parts):
    with pytest.raises(MessageError):
        read_frame_parts(parts)
