"""The one decision rule (edge_model.decision) on synthetic window sequences: pure, no model needed."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from edge_model.decision import DecisionLevels, DecisionRule, sustained_score
from edge_model.pipeline import WindowScore

LEVELS = DecisionLevels(on=0.6, off_margin=0.1, min_duration_s=1.0, end_after_s=2.0, cooldown_s=5.0,
                        min_track_frames=8, min_face_score=0.65)


def window(p: float, track: int = 1, frames: int = 100, face_score: float = 0.9) -> WindowScore:
    return WindowScore(track, 0, 0, p, frames, face_score)


def run(rule: DecisionRule, scores: list[float], track: int = 1, dt: float = 0.25, **evidence):
    """(time, change kind) of every change, windows every `dt` seconds."""
    changes = []
    for i, s in enumerate(scores):
        c = rule.observe(window(s, track, **evidence), i * dt)
        if c is not None:
            changes.append((round(i * dt, 2), c))
    return changes


def kinds(changes) -> list[str]:
    return [c.kind for _, c in changes if c.kind != "open"]


def test_a_short_spike_raises_nothing():
    assert run(DecisionRule(LEVELS), [0.1, 0.9, 0.9, 0.2, 0.1]) == []


def test_new_after_the_minimum_duration_then_end_after_the_low_time():
    changes = run(DecisionRule(LEVELS), [0.1] * 2 + [0.9] * 20 + [0.1] * 12)
    assert kinds(changes) == ["new", "end"]
    t_new, new = changes[0]
    assert t_new == 1.5 and new.started_at == 0.5  # above `on` from 0.5 s, new 1.0 s later
    t_end, end = [(t, c) for t, c in changes if c.kind == "end"][0]
    assert t_end == 7.5 and end.ts == 7.5 and end.started_at == 0.5  # low from 5.5 s, ended 2.0 s later
    assert end.peak == 0.9 and 0.5 < end.mean < 0.9
    assert all(c.kind == "open" for t, c in changes if 1.5 < t < 7.5)


def test_hysteresis_keeps_a_candidate_and_an_alert_through_noise_near_the_threshold():
    changes = run(DecisionRule(LEVELS), [0.7, 0.55, 0.7, 0.55, 0.7] + [0.55, 0.7] * 10)
    assert kinds(changes) == ["new"]


def test_a_dip_below_off_resets_the_candidate():
    assert run(DecisionRule(LEVELS), [0.9, 0.9, 0.9, 0.4, 0.9, 0.9, 0.9]) == []


def test_a_brief_low_does_not_end_an_alert():
    assert kinds(run(DecisionRule(LEVELS), [0.9] * 6 + [0.1] * 4 + [0.9] * 4)) == ["new"]


def test_cooldown_delays_the_next_alert_on_the_same_track():
    changes = run(DecisionRule(LEVELS), [0.9] * 6 + [0.1] * 9 + [0.9] * 40)  # ends at 3.5 s; quiet until 8.5 s
    new_times = [t for t, c in changes if c.kind == "new"]
    assert len(new_times) == 2 and new_times[1] >= 8.5 + 1.0


def test_a_lost_track_ends_its_alert_and_close_ends_every_one():
    rule = DecisionRule(LEVELS)
    run(rule, [0.9] * 6, track=1)
    run(rule, [0.9] * 6, track=2)
    assert run(rule, [0.1] * 6, track=3) == []
    end = rule.track_ended(1, 10.0)
    assert end.kind == "end" and end.track == 1 and end.ts == 10.0
    assert rule.track_ended(1, 11.0) is None and rule.track_ended(3, 11.0) is None
    assert [c.track for c in rule.close(12.0)] == [2]


def test_zero_minimum_duration_fires_at_once():
    levels = DecisionLevels(on=0.6, min_duration_s=0.0)
    assert kinds(run(DecisionRule(levels), [0.7])) == ["new"]


@pytest.mark.parametrize("evidence", [{"frames": 3}, {"face_score": 0.61}])
def test_short_or_doubtful_tracks_are_no_evidence(evidence):
    """A 3-frame fragment or a low-detector-score face cannot open an alert, even with no minimum duration."""
    levels = DecisionLevels(on=0.6, min_duration_s=0.0)
    assert run(DecisionRule(levels), [0.92] * 10, **evidence) == []
    assert kinds(run(DecisionRule(levels), [0.92] * 10)) == ["new"]


def test_the_off_level_and_bad_levels():
    assert DecisionLevels(on=0.05, off_margin=0.1).off == 0.0
    for bad in ({"on": 1.5}, {"on": 0.5, "off_margin": -0.1}):
        with pytest.raises(ValueError):
            DecisionLevels(**bad)


def test_sustained_score_needs_the_minimum_duration():
    times = [i * 0.25 for i in range(9)]  # 2 s of windows
    assert sustained_score(times[:4], [0.9] * 4, 1.0) is None  # 0.75 s: too short to decide
    scores = [0.1] * 4 + [0.95] + [0.1] * 4  # one high window among low ones
    assert sustained_score(times, scores, 1.0) == pytest.approx((0.95 + 0.4) / 5)
    assert sustained_score(times, [0.2] * 4 + [0.9] * 5, 1.0) == pytest.approx(0.9)
    assert sustained_score(times[:1], [0.7], 0.0) == 0.7


@given(st.lists(st.floats(0.0, 1.0), max_size=200))
@example([0.9753427196266826] * 5)  # the sum of equal scores once rounded their mean above them
def test_lifecycle_is_always_well_formed(scores):
    rule = DecisionRule(LEVELS)
    changes = [c for _, c in run(rule, scores)] + rule.close(1000.0)
    is_open = False
    for c in changes:
        assert is_open == (c.kind != "new")
        is_open = c.kind != "end"
        assert 0.0 <= c.mean <= c.peak <= 1.0 and c.started_at <= c.ts
    assert not is_open
