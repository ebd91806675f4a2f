"""Train and validation never share a video or an identity."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from training.splits import split
from training.store import ClipRecord


def _record(video: str, group: str, label: int, n_frames: int, track: int) -> ClipRecord:
    return ClipRecord(f"{video}__t{track}", video, group, label, "real" if label == 0 else "x", "s", track, n_frames, 0, n_frames, False)


clips = st.lists(
    st.tuples(
        st.integers(0, 30),  # video
        st.lists(st.integers(0, 12), min_size=1, max_size=2),  # identities shown
        st.integers(0, 1),  # label
        st.sampled_from([1, 20]),  # photo or video
        st.integers(0, 2),  # track
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(rows=clips, fraction=st.floats(0.05, 0.5), seed=st.integers(0, 5))
def test_no_video_or_identity_in_both_splits(rows, fraction, seed):
    records = list({
        (v, t): _record(f"v{v}", "+".join(f"p{g}" for g in groups), label, n, t) for v, groups, label, n, t in rows
    }.values())
    train, val = split(records, fraction, seed)
    assert sorted(r.clip for r in train + val) == sorted(r.clip for r in records)
    assert not {r.video_id for r in train} & {r.video_id for r in val}
    ids = lambda rs: {g for r in rs for g in r.group.split("+")}  # noqa: E731
    assert not ids(train) & ids(val)


def test_split_is_reproducible_and_holds_out_about_the_fraction():
    records = [_record(f"v{i}", f"p{i}", 0, 1, 0) for i in range(200)]
    a = split(records, 0.2, seed=3)
    b = split(records, 0.2, seed=3)
    assert [r.clip for r in a[1]] == [r.clip for r in b[1]]
    assert len(a[1]) == 40
    assert [r.clip for r in split(records, 0.2, seed=4)[1]] != [r.clip for r in a[1]]


def test_known_people_across_files_stay_together():
    records = [
        _record("clip_a", "alice", 0, 20, 0),
        _record("clip_b", "alice", 0, 20, 0),
        _record("photo_alice", "alice", 0, 1, 0),
        *[_record(f"other{i}", f"p{i}", 0, 20, 0) for i in range(10)],
    ]
    for seed in range(10):
        train, val = split(records, 0.3, seed)
        side = [r.video_id in {x.video_id for x in val} for r in records[:3]]
        assert len(set(side)) == 1
