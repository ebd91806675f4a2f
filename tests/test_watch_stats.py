"""The per-stream numbers of the stats dict, from synthetic state and stats messages.

Every process reports cumulative counters since its own start (`started_at`).
"""

from __future__ import annotations

import numpy as np
import pytest

from stream.stats import StreamStats, percentile
from stream.wire import ScoreEvent, StreamState, WorkerStats


def state(captured: int, dropped: int, s: str = "online", started_at: float = 100.0) -> StreamState:
    return StreamState("cam", s, 0.0, started_at, 0, captured, dropped)


def stats(worker: str, processed: int, dropped: int = 0, latency=(), started_at: float = 100.0) -> WorkerStats:
    return WorkerStats(worker, "cam", 0.0, started_at, processed, dropped, 0, 1, list(latency))


def test_rates_over_the_last_seconds():
    st = StreamStats("cam", "cam.mp4")
    for t in range(6):
        st.on_state(state(25 * t, 5 * t), float(t))
        if t:
            st.on_stats(stats("w0", 15 * t, 2 * t, [10.0] * 14 + [50.0]), float(t))
            st.on_stats(stats("w1", 5 * t), float(t))
    snap = st.snapshot(5.0)
    assert snap["capture_fps"] == 25.0
    assert snap["process_fps"] == 20.0  # two workers share the stream
    assert snap["dropped_fps"] == 7.0  # 5 dropped by the capture + 2 overwritten in the ring
    assert snap["captured"] == 125 and snap["processed"] == 100
    assert snap["latency_p50_ms"] == 10.0 and snap["latency_p95_ms"] > 10.0


def test_a_restarted_process_counts_on_from_zero_never_backwards():
    st = StreamStats("cam", "cam.mp4")
    st.on_state(state(100, 0), 0.0)
    st.on_state(state(130, 0), 1.0)
    st.on_state(state(0, 0, "starting", started_at=200.0), 2.0)  # the capture restarted
    st.on_state(state(20, 0, started_at=200.0), 3.0)
    st.on_stats(stats("w0", 90), 3.0)
    st.on_stats(stats("w0", 10, started_at=300.0), 4.0)  # the worker restarted
    assert st.captured == 150
    assert st.processed == 100
    assert st.snapshot(4.0)["capture_fps"] == 12.5  # (150 - 100) frames over 4 s


def test_a_late_duplicate_report_is_not_counted_twice():
    st = StreamStats("cam", "cam.mp4")
    st.on_stats(stats("w0", 40), 1.0)
    st.on_stats(stats("w0", 40), 2.0)
    assert st.processed == 40


def test_latency_goes_stale_when_nothing_is_processed():
    st = StreamStats("cam", "cam.mp4")
    st.on_stats(stats("w0", 10, latency=[12.0, 14.0]), 1.0)
    assert st.snapshot(2.0)["latency_p50_ms"] == 13.0
    st.on_stats(stats("w0", 10), 30.0)  # a worker still alive, but no frame scored for a long time
    assert st.snapshot(30.0)["latency_p50_ms"] is None


def test_scores_keep_a_short_history():
    st = StreamStats("cam", "cam.mp4")
    for i in range(40):
        st.on_score(ScoreEvent("cam", 1, i, 0.0, 0.0, i / 40))
    snap = st.snapshot(0.0)
    assert snap["score"] == 0.975 and len(snap["history"]) == 24


@pytest.mark.parametrize("values", [[7.0], [3.0, 1.0], [5.0, 1.0, 9.0, 2.0, 2.0, 40.0, 0.5]])
def test_latency_percentiles_match_numpys_linear_ones(values):
    """The supervisor computes them without numpy (it does not load it); the figures stay numpy's."""
    for q in (0, 50, 95, 100):
        assert percentile(sorted(values), q) == pytest.approx(float(np.percentile(values, q)))
