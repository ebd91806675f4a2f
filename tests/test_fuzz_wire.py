"""Fuzzing the one decoder every ZeroMQ receiver uses: any bytes get a valid message or a MessageError.

A receiver counts a MessageError and skips the frame; any other exception
would kill a worker or the supervisor, so it is a bug.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import fields

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.wire import (
    FRAME_READY_FIELDS,
    MESSAGE_TYPES,
    AlertEvent,
    Directory,
    FrameReady,
    MessageError,
    ScoreEvent,
    StreamState,
    WorkerStats,
    decode,
    decode_frame_ready,
    encode,
)

# Small by default so the suite stays fast; DFD_FUZZ_EXAMPLES=5000 for a deeper hunt.
FUZZ = settings(
    max_examples=int(os.environ.get("DFD_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SAMPLES = [
    FrameReady("cam", 3, 17, 1.5, 640, 480),
    StreamState("cam", "online", 2.0, 1.0, reconnects=1, captured=10, dropped=2),
    WorkerStats("w1", "cam", 3.0, 1.0, 25, 1, 0, 1, [12.5, 14.0]),
    ScoreEvent("cam", 4, 99, 1.0, 1.1, 0.7),
    AlertEvent("new", "0b8f", "cam", 4, 5.0, 4.0, None, 0.9, 0.9, 0.9, 0.5, "m1", {"face": "f.jpg"}),
    Directory("tcp://127.0.0.1:5571", {"cam": "tcp://127.0.0.1:5572"}, "m1"),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _json_equal(a, b) -> bool:
    """Equality that counts NaN == NaN (json lets NaN through, and NaN != NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return a == b


def _decodes_or_rejects(frame: bytes) -> None:
    try:
        msg = decode(frame)
    except MessageError as exc:
        assert "\n" not in str(exc)  # one line, fit for a log
        return
    assert type(msg) in MESSAGE_TYPES.values()
    # What decodes must survive a round trip unchanged: receivers may forward it.
    again = decode(encode(msg))
    assert _json_equal(json.loads(encode(again).split(b" ", 1)[1]), json.loads(encode(msg).split(b" ", 1)[1]))


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(frame):
    _decodes_or_rejects(frame)


@FUZZ
@given(st.sampled_from(sorted(MESSAGE_TYPES)), st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_known_topic_with_a_random_body(topic, body):
    _decodes_or_rejects(topic.encode() + b" " + json.dumps(body).encode())


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_a_valid_message_with_one_field_replaced(msg, data):
    """The nastiest inputs: right topic, right fields, one value of any JSON type."""
    body = json.loads(encode(msg).split(b" ", 1)[1])
    name = data.draw(st.sampled_from([f.name for f in fields(msg)]))
    body[name] = data.draw(json_values)
    _decodes_or_rejects(msg.TOPIC.encode() + b" " + json.dumps(body).encode())


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_a_valid_message_truncated_or_with_bytes_flipped(msg, data):
    frame = bytearray(encode(msg))
    cut = data.draw(st.integers(0, len(frame)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(frame) - 1), st.integers(0, 255)), max_size=4))
    for pos, value in flips:
        frame[pos] = value
    _decodes_or_rejects(bytes(frame[:cut]))


def test_a_literal_field_takes_only_its_listed_values():
    """A substring of an allowed value is not an allowed value."""
    body = json.loads(encode(SAMPLES[1]).split(b" ", 1)[1])
    for bad in ("on", "line", "", "offline|online"):
        body["state"] = bad
        try:
            decode(b"state " + json.dumps(body).encode())
        except MessageError:
            continue
        raise AssertionError(f"state {bad!r} was accepted")


def test_the_samples_are_valid():
    for msg in SAMPLES:
        assert decode(encode(msg)) == msg


def test_container_fields_hold_their_item_types():
    """Found by fuzzing: a list as an evidence path reached SQLite and looked like an outage."""
    for name, bad in (("evidence", {"face": [None]}), ("evidence", {"clip": 3}), ("details", None)):
        body = json.loads(encode(SAMPLES[4]).split(b" ", 1)[1])
        body[name] = bad
        try:
            decode(b"alert " + json.dumps(body).encode())
        except MessageError:
            continue
        raise AssertionError(f"{name}={bad!r} was accepted")
    stats = json.loads(encode(SAMPLES[2]).split(b" ", 1)[1])
    stats["latency_ms"] = [1.0, "2"]
    try:
        decode(b"stats " + json.dumps(stats).encode())
    except MessageError:
        return
    raise AssertionError("a text latency was accepted")


def _frame_ready_either_way(frame: bytes) -> FrameReady | None:
    """decode_frame_ready's answer, held to pydantic's: it may refuse more (a NaN or infinite time), never less."""
    try:
        by_hand = decode_frame_ready(frame)
    except MessageError as exc:
        assert "\n" not in str(exc)
        by_hand = None
    try:
        by_pydantic = decode(frame, (FrameReady,))
    except MessageError:
        by_pydantic = None
    if by_hand is not None:
        assert by_hand == by_pydantic and type(by_hand.ts) is float, (frame, by_hand, by_pydantic)
    elif by_pydantic is not None:
        assert not math.isfinite(by_pydantic.ts), (frame, by_pydantic)
    return by_hand


def test_the_hand_checked_frame_header_takes_what_pydantic_takes():
    assert _frame_ready_either_way(encode(SAMPLES[0])) == SAMPLES[0]
    body = json.loads(encode(SAMPLES[0]).split(b" ", 1)[1])
    assert _frame_ready_either_way(b"frame " + json.dumps(body | {"stream": "\ud800"}).encode()) is None
    assert _frame_ready_either_way(b"frame " + json.dumps(body | {"ts": 5}).encode()).ts == 5.0
    assert set(FRAME_READY_FIELDS) == {f.name for f in fields(FrameReady)}  # a new field needs its check


@FUZZ
@given(st.dictionaries(st.sampled_from([f.name for f in fields(FrameReady)] + ["x"]), json_values, max_size=8))
def test_the_hand_checked_frame_header_with_a_random_body(body):
    _frame_ready_either_way(b"frame " + json.dumps(body).encode())


@FUZZ
@given(st.data())
def test_the_hand_checked_frame_header_with_one_field_replaced(data):
    body = json.loads(encode(SAMPLES[0]).split(b" ", 1)[1])
    name = data.draw(st.sampled_from(sorted(body)))
    body[name] = data.draw(json_values | st.integers(-(2**70), 2**70) | st.text(alphabet=st.characters(), max_size=4))
    _frame_ready_either_way(b"frame " + json.dumps(body).encode())


@FUZZ
@given(st.data())
def test_the_hand_checked_frame_header_truncated_or_with_bytes_flipped(data):
    frame = bytearray(encode(SAMPLES[0]))
    cut = data.draw(st.integers(0, len(frame)))
    for pos, value in data.draw(st.lists(st.tuples(st.integers(0, len(frame) - 1), st.integers(0, 255)), max_size=4)):
        frame[pos] = value
    _frame_ready_either_way(bytes(frame[:cut]))
