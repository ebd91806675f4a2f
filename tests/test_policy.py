"""The live alert policy: the decision rule's changes as new/update/end messages (pure: no clock, no sockets).

The rule itself (hysteresis, durations, evidence) is tested in test_decision.py.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from edge_model.decision import DecisionLevels
from edge_model.pipeline import WindowScore
from stream.config import load_config
from stream.policy import AlertPolicy

LEVELS = DecisionLevels(on=0.6, off_margin=0.1, min_duration_s=1.0, end_after_s=2.0, cooldown_s=5.0)


def policy(levels: DecisionLevels = LEVELS) -> AlertPolicy:
    ids = (f"alert-{i}" for i in itertools.count(1))
    return AlertPolicy("cam", levels, "model-x", 2.0, new_id=lambda: next(ids))


def run(p: AlertPolicy, scores: list[float], track: int = 1, dt: float = 0.25):
    events = []
    for i, s in enumerate(scores):
        events += [(round(i * dt, 2), e) for e in p.score(WindowScore(track, i, i + 3, s, 100, 0.9), i * dt)]
    return events


def kinds(events) -> list[str]:
    return [e.kind for _, e in events]


def test_new_then_updates_then_end():
    events = run(policy(), [0.1] * 2 + [0.9] * 20 + [0.1] * 12)
    assert kinds(events) == ["new", "update", "update", "end"]
    t_new, new = events[0]
    assert t_new == 1.5 and new.started_at == 0.5
    assert new.alert_id == "alert-1" and new.stream == "cam" and new.track == 1
    assert new.threshold == 0.6 and new.model_id == "model-x" and new.ended_at is None
    assert [t for t, _ in events[1:3]] == [3.5, 5.5]  # every update_every_s while open
    t_end, end = events[-1]
    assert t_end == 7.5 and end.ended_at == 7.5
    assert {e.alert_id for _, e in events} == {"alert-1"}
    assert end.peak_score == 0.9 and 0.5 < end.mean_score < 0.9


def test_each_alert_gets_its_own_id():
    events = run(policy(), [0.9] * 6 + [0.1] * 9 + [0.9] * 40)
    assert [e.alert_id for _, e in events if e.kind == "new"] == ["alert-1", "alert-2"]


def test_tracks_are_independent_and_a_lost_track_ends_its_alert():
    p = policy()
    assert kinds(run(p, [0.9] * 6, track=1)) == ["new"]
    assert run(p, [0.1] * 6, track=2) == []
    assert p.track_ended(2, 10.0) == []  # track 2 never alerted
    (end,) = p.track_ended(1, 10.0)
    assert end.kind == "end" and end.ended_at == 10.0 and end.alert_id == "alert-1" and end.track == 1
    assert p.close(11.0) == []  # nothing is left open


def test_close_ends_every_open_alert():
    p = policy()
    run(p, [0.9] * 6, track=1)
    run(p, [0.9] * 6, track=2)
    assert sorted(e.track for e in p.close(5.0)) == [1, 2]
    assert p.close(6.0) == []


def test_the_config_levels_default_to_the_rules_and_the_models_threshold():
    cfg = load_config(None)
    assert cfg.policy.levels(0.77) == DecisionLevels(on=0.77)
    tuned = load_config(None, {"policy.on": 0.5, "policy.min_track_frames": 20, "policy.min_face_score": 0.8})
    levels = tuned.policy.levels(0.77)
    assert (levels.on, levels.min_track_frames, levels.min_face_score) == (0.5, 20, 0.8)


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
