"""Face tracking: stable ids through occlusion, crossing and side-by-side faces, detect every k-th frame."""

from __future__ import annotations

import numpy as np
import pytest

from edge_model.detector import Detection
from edge_model.tracker import FaceTracker, match


def face(cx: float, cy: float, size: float = 100.0, score: float = 0.9) -> Detection:
    """A detection centred at (cx, cy), with keypoints laid out like a frontal face."""
    h = size / 2
    offsets = np.array([[-0.2, -0.2], [0.2, -0.2], [0, 0], [0, 0.25], [-0.45, -0.1], [0.45, -0.1]])
    return Detection(
        box=np.array([cx - h, cy - h, cx + h, cy + h], np.float32),
        score=score,
        keypoints=(np.array([cx, cy]) + offsets * size).astype(np.float32),
    )


def centre(track) -> np.ndarray:
    return (track.box[:2] + track.box[2:]) / 2


def test_new_faces_get_increasing_ids():
    tracker = FaceTracker()
    tracks, ended = tracker.update([face(100, 100), face(400, 100)], 0)
    assert [t.id for t in tracks] == [1, 2] and ended == []
    tracks, _ = tracker.update([face(100, 100), face(400, 100), face(700, 100)], 1)
    assert [t.id for t in tracks] == [1, 2, 3]
    assert [t.hits for t in tracks] == [2, 2, 1]
    assert all(t.first_frame == 0 for t in tracks[:2]) and tracks[2].first_frame == 1


def test_id_kept_through_a_short_occlusion():
    tracker = FaceTracker(max_missed=8)
    for i in range(10):
        tracks, _ = tracker.update([face(200 + i, 200)], i)
    for i in range(10, 15):  # hidden for 5 frames
        tracks, ended = tracker.update([], i)
        assert [t.id for t in tracks] == [1] and ended == []
        assert tracks[0].missed == i - 9
    tracks, ended = tracker.update([face(215, 200)], 15)
    assert [t.id for t in tracks] == [1] and ended == []
    assert tracks[0].missed == 0 and tracks[0].last_frame == 15 and tracks[0].hits == 11


def test_ended_track_is_reported_once_and_a_returning_face_is_new():
    tracker = FaceTracker(max_missed=3)
    tracker.update([face(200, 200)], 0)
    ended_all = []
    for i in range(1, 10):
        tracks, ended = tracker.update([], i)
        ended_all += ended
        if i <= 3:
            assert [t.id for t in tracks] == [1]
    assert [t.id for t in ended_all] == [1]
    assert ended_all[0].first_frame == 0 and ended_all[0].last_frame == 0
    assert tracker.active() == []
    tracks, _ = tracker.update([face(200, 200)], 10)
    assert [t.id for t in tracks] == [2]


def test_side_by_side_faces_keep_separate_ids():
    rng = np.random.default_rng(1)
    tracker = FaceTracker()
    left_id = None
    for i in range(30):
        jitter = rng.normal(0, 3, size=4)
        dets = [face(200 + jitter[0], 200 + jitter[1]), face(305 + jitter[2], 200 + jitter[3])]
        order = rng.permutation(2)  # the detector's order says nothing about identity
        tracks, ended = tracker.update([dets[k] for k in order], i)
        assert ended == [] and sorted(t.id for t in tracks) == [1, 2]
        left = min(tracks, key=lambda t: centre(t)[0])
        left_id = left_id or left.id
        assert left.id == left_id, f"ids swapped at frame {i}"


@pytest.mark.parametrize("speed", [10.0, 35.0])
def test_crossing_faces_keep_their_ids(speed):
    """Two faces pass each other; at 35 px/frame a face overlaps the other's last box
    more than its own, so only the motion prediction keeps the ids right."""
    tracker = FaceTracker()
    ids_at_start = None
    for i in range(16):
        a = face(100 + speed * i, 200)
        b = face(100 + speed * 15 - speed * i, 220)
        tracks, ended = tracker.update([b, a] if i % 2 else [a, b], i)
        assert ended == []
        assert len(tracks) == 2
        by_y = {round(float(centre(t)[1])): t.id for t in tracks}
        if ids_at_start is None:
            ids_at_start = by_y
        assert by_y == ids_at_start, f"ids swapped at frame {i}"


def test_no_detection_frames_predict_and_count_nothing_missed():
    """Detector every 3rd frame on a face moving 12 px a frame: in between, the
    box follows the motion; the track is never counted as missed."""
    tracker = FaceTracker(max_missed=1)
    for i in range(30):
        truth = 100 + 12 * i
        tracks, ended = tracker.update([face(truth, 200)] if i % 3 == 0 else None, i)
        assert [t.id for t in tracks] == [1] and ended == []
        assert tracks[0].missed == 0
        if i >= 6:  # the velocity is known after the second detection
            assert abs(centre(tracks[0])[0] - truth) < 3
            assert abs(tracks[0].keypoints[2, 0] - truth) < 3  # keypoints move with the box
    assert tracks[0].last_frame == 27 and tracks[0].hits == 10


def test_centre_fallback_matches_a_fast_shrinking_face():
    tracker = FaceTracker(iou=0.3)
    tracker.update([face(200, 200, size=100)], 0)
    tracks, _ = tracker.update([face(230, 210, size=60)], 1)  # IoU 0.2, close centre
    assert [t.id for t in tracks] == [1]
    tracks, _ = tracker.update([face(600, 210, size=60)], 2)  # far away: a new face
    assert [t.id for t in tracks] == [1, 2]


def test_match_prefers_the_best_overlap():
    tracker = FaceTracker()
    tracks, _ = tracker.update([face(100, 100), face(180, 100)], 0)
    dets = [face(170, 100), face(110, 100)]
    assert sorted(match(tracks, dets, 0.3)) == [(0, 1), (1, 0)]
    assert match(tracks, [], 0.3) == [] and match([], dets, 0.3) == []
