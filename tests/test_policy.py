"""The alert policy on synthetic score sequences (pure: no clock, no sockets)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.policy import AlertPolicy, PolicyLevels

LEVELS = PolicyLevels(on=0.6, off=0.5, min_duration_s=1.0, end_after_s=2.0, cooldown_s=5.0, update_every_s=2.0)


def policy(levels: PolicyLevels = LEVELS) -> AlertPolicy:
    ids = (f"alert-{i}" for i in itertools.count(1))
    return AlertPolicy("cam", levels, "model-x", new_id=lambda: next(ids))


def run(p: AlertPolicy, scores: list[float], track: int = 1, dt: float = 0.25, t0: float = 0.0):
    events = []
    for i, s in enumerate(scores):
        events += [(round(t0 + i * dt, 2), e) for e in p.score(track, s, t0 + i * dt)]
    return events


def kinds(events) -> list[str]:
    return [e.kind for _, e in events]


def test_a_short_spike_raises_nothing():
    assert run(policy(), [0.1, 0.9, 0.9, 0.2, 0.1]) == []


def test_new_after_the_minimum_duration_then_updates_then_end():
    scores = [0.1] * 2 + [0.9] * 20 + [0.1] * 12
    events = run(policy(), scores)
    assert kinds(events) == ["new", "update", "update", "end"]
    t_new, new = events[0]
    assert t_new == 1.5 and new.started_at == 0.5  # above `on` from 0.5 s, new 1.0 s later
    assert new.alert_id == "alert-1" and new.stream == "cam" and new.track == 1
    assert new.threshold == 0.6 and new.model_id == "model-x" and new.ended_at is None
    t_end, end = events[-1]
    assert t_end == 7.5 and end.ended_at == 7.5  # low from 5.5 s, ended 2.0 s later
    assert {e.alert_id for _, e in events} == {"alert-1"}
    assert end.peak_score == 0.9 and 0.5 < end.mean_score < 0.9


def test_hysteresis_keeps_a_candidate_and_an_alert_through_noise_near_the_threshold():
    # between off (0.5) and on (0.6) neither resets the candidate nor ends the alert
    scores = [0.7, 0.55, 0.7, 0.55, 0.7] + [0.55, 0.7] * 10
    events = run(policy(), scores)
    assert kinds(events)[0] == "new" and "end" not in kinds(events)


def test_a_dip_below_off_resets_the_candidate():
    assert run(policy(), [0.9, 0.9, 0.9, 0.4, 0.9, 0.9, 0.9]) == []


def test_a_brief_low_does_not_end_an_alert():
    scores = [0.9] * 6 + [0.1] * 4 + [0.9] * 4  # 1.0 s low < end_after_s
    assert kinds(run(policy(), scores)) == ["new", "update"]


def test_cooldown_delays_the_next_alert_on_the_same_track():
    p = policy()
    scores = [0.9] * 6 + [0.1] * 9 + [0.9] * 40  # ends at 3.5 s; quiet until 8.5 s
    events = run(p, scores)
    new_times = [t for t, e in events if e.kind == "new"]
    assert len(new_times) == 2 and new_times[1] >= 8.5 + 1.0
    assert events[-1][1].alert_id == "alert-2"


def test_tracks_are_independent_and_a_lost_track_ends_its_alert():
    p = policy()
    run(p, [0.9] * 6, track=1)
    assert run(p, [0.1] * 6, track=2) == []
    assert p.active() == {1: "alert-1"}
    (end,) = p.track_ended(1, 10.0)
    assert end.kind == "end" and end.ended_at == 10.0
    assert p.active() == {} and p.track_ended(2, 10.0) == []


def test_close_ends_every_open_alert():
    p = policy()
    run(p, [0.9] * 6, track=1)
    run(p, [0.9] * 6, track=2)
    assert sorted(e.track for e in p.close(5.0)) == [1, 2]


def test_zero_minimum_duration_fires_at_once():
    levels = PolicyLevels(on=0.6, off=0.5, min_duration_s=0.0)
    assert kinds(run(policy(levels), [0.7])) == ["new"]


def test_bad_levels_are_refused():
    with pytest.raises(ValueError):
        AlertPolicy("cam", PolicyLevels(on=0.4, off=0.5), "m")


@given(st.lists(st.floats(0.0, 1.0), max_size=200))
def test_lifecycle_is_always_well_formed(scores):
    p = policy()
    events = run(p, scores) + [(None, e) for e in p.close(1000.0)]
    open_id = None
    for _, e in events:
        if e.kind == "new":
            assert open_id is None
            open_id = e.alert_id
        else:
            assert e.alert_id == open_id
            if e.kind == "end":
                open_id = None
        assert 0.0 <= e.mean_score <= e.peak_score <= 1.0
    assert open_id is None
