"""The per-stream numbers of the stats dict, from synthetic state and stats messages."""

from __future__ import annotations

from stream.messages import ScoreEvent, StreamState, WorkerStats
from stream.supervisor import StreamStats


def state(captured: int, dropped: int, s: str = "online") -> StreamState:
    return StreamState("cam", s, 0.0, 0, captured, dropped)


def stats(worker: str, processed: int, skipped: int = 0, latency=()) -> WorkerStats:
    return WorkerStats(worker, "cam", 0.0, processed, skipped, 0, 1, 1.0, list(latency))


def test_rates_over_the_last_seconds():
    st = StreamStats("cam", "cam.mp4")
    for t in range(6):
        st.on_state(state(25 * t, 5 * t), float(t))
        if t:
            st.on_stats(stats("w0", 15, 2, [10.0] * 14 + [50.0]), float(t))
            st.on_stats(stats("w1", 5), float(t))
    snap = st.snapshot(5.0)
    assert snap["capture_fps"] == 25.0
    assert snap["process_fps"] == 20.0  # two workers share the stream
    assert snap["dropped_fps"] == 7.0  # 5 dropped by the capture + 2 overwritten in the ring
    assert snap["captured"] == 125 and snap["processed"] == 100
    assert snap["latency_p50_ms"] == 10.0 and snap["latency_p95_ms"] > 10.0


def test_a_restarted_capture_does_not_count_backwards():
    st = StreamStats("cam", "cam.mp4")
    st.on_state(state(100, 0), 0.0)
    st.on_state(state(130, 0), 1.0)
    st.on_state(state(0, 0, "starting"), 2.0)
    st.on_state(state(20, 0), 3.0)
    assert st.captured == 50
    assert st.snapshot(3.0)["capture_fps"] == 20.0


def test_scores_keep_a_short_history():
    st = StreamStats("cam", "cam.mp4")
    for i in range(40):
        st.on_score(ScoreEvent("cam", 1, i, 0.0, 0.0, i / 40))
    snap = st.snapshot(0.0)
    assert snap["score"] == 0.975 and len(snap["history"]) == 24
