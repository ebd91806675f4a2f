"""Fuzzing alert records: whatever alert event gets past the decoder, the recorder stores it or sets it aside.

An event arrives from a worker as a frame. The decoder rejects what is not an
alert (counted by the receiver). Anything it lets through goes to the real
recorder (spool + SQLite): each event must end up stored or in the rejected
file (counted), with the writer alive and nothing stuck in the spool. A record
that the database refuses must never look like an outage, or one bad event
would block every later alert.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.alerts import open_recorder
from stream.alerts.records import event_id
from stream.wire import AlertEvent, MessageError, decode, encode

FUZZ = settings(
    max_examples=int(os.environ.get("DFD_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

FIELDS = [
    "kind", "alert_id", "stream", "track", "ts", "started_at", "ended_at", "score", "peak_score",
    "mean_score", "threshold", "model_id", "evidence", "details", "frame_ts",
]
nasty_text = st.text(max_size=40) | st.sampled_from(
    ["", "x'); DROP TABLE alerts; --", "\x00", "é" * 300, "a" * 5000, "../../etc/passwd", "%s", "?"]
)
numbers = st.integers() | st.floats() | st.sampled_from([2**63, -(2**63) - 1, 10**30, 1e308])
json_values = st.recursive(
    st.none() | st.booleans() | numbers | nasty_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def alert_frames(draw) -> bytes:
    """A real alert event's frame with a few fields replaced by anything JSON can hold."""
    event = AlertEvent(
        draw(st.sampled_from(["new", "update", "end"])), str(uuid.uuid4()), "cam", 1, 100.0, 99.0, None,
        0.9, 0.95, 0.9, 0.5, "model-1", {"face": "/e/f.jpg"}, {"note": "x"}, 98.0,
    )
    body = json.loads(encode(event).split(b" ", 1)[1])
    for name in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        body[name] = draw(json_values | st.dictionaries(st.sampled_from(["face", "frame", "clip"]), json_values))
    return b"alert " + json.dumps(body).encode()


def _stored_event_ids(db) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT event_id FROM alert_events")}


@FUZZ
@given(st.lists(alert_frames(), min_size=1, max_size=4))
def test_every_decoded_alert_is_stored_or_set_aside(tmp_path_factory, frames):
    events = []
    for frame in frames:
        try:
            msg = decode(frame)
        except MessageError:
            continue  # the receiver counts it and skips it: tested in test_fuzz_messages
        assert isinstance(msg, AlertEvent)
        events.append(msg)
    d = tmp_path_factory.mktemp("rec")
    recorder = open_recorder(f"sqlite:///{d / 'alerts.db'}", d / "alerts.spool")
    for event in events:
        recorder.submit(event)
    recorder.close(timeout=10.0)
    status = recorder.status()
    assert status.spool_depth == 0, f"events stuck in the spool: {status}"
    assert status.last_error == "", status
    rejected = d / "alerts.spool.rejected"
    set_aside = rejected.read_text(errors="replace").count("\n") if rejected.exists() else 0
    assert status.rejected == set_aside
    stored = _stored_event_ids(d / "alerts.db") if events else set()
    unique = {event_id(e) for e in events}
    assert len(stored) + set_aside >= len(unique) and stored <= unique
