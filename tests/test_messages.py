"""Messages round-trip, and every malformed frame is rejected with MessageError, never a crash."""

from __future__ import annotations

import pytest

from stream.messages import AlertEvent, FrameReady, MessageError, ScoreEvent, decode, encode


def test_round_trip():
    msgs = [
        FrameReady("cam", 3, 42, 1.5, 640, 480),
        ScoreEvent("cam", 1, 42, 1.5, 1.6, 0.93),
        AlertEvent("new", "id-1", "cam", 1, 2.0, 1.0, None, 0.9, 0.9, 0.85, 0.5, "m", {"face": "f.jpg"}),
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
    ],
)
def test_malformed_is_rejected(frame):
    with pytest.raises(MessageError):
        decode(frame)
