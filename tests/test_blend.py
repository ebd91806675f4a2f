"""The blending primitive: a self-blended fake changes pixels only inside its mask."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_model.blend import blend, deform_mask, hull_mask, keypoint_outline
from training.sbi import blend_frame, sample_jitter, self_blend_clip

KEYPOINTS = np.array([[40, 50], [72, 50], [56, 66], [56, 82], [30, 56], [82, 56]], np.float32)


def _face(seed: int = 0, size: int = 112) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), ratio=st.floats(0.05, 1.0))
def test_blend_is_confined_to_the_mask(seed, ratio):
    rng = np.random.default_rng(seed)
    bg, fg = _face(seed), _face(seed + 1)
    mask = deform_mask(hull_mask(keypoint_outline(KEYPOINTS), bg.shape[:2]), rng)
    out = blend(bg, fg, mask, ratio)
    outside = mask == 0
    assert outside.any() and (~outside).any()
    np.testing.assert_array_equal(out[outside], bg[outside])
    changed = np.any(out != bg, axis=-1)
    assert not changed[outside].any()
    assert changed[mask > 0.5].mean() > 0.5  # inside, the foreground shows


def test_full_mask_gives_the_foreground_and_zero_mask_the_background():
    bg, fg = _face(1), _face(2)
    np.testing.assert_array_equal(blend(bg, fg, np.ones(bg.shape[:2], np.float32)), fg)
    np.testing.assert_array_equal(blend(bg, fg, np.zeros(bg.shape[:2], np.float32)), bg)


def test_hull_mask_of_a_square_is_the_square():
    pts = np.array([[10, 10], [30, 10], [30, 40], [10, 40], [20, 25]], np.float32)
    expected = np.zeros((50, 60), np.float32)
    expected[10:41, 10:31] = 1.0
    np.testing.assert_array_equal(hull_mask(pts, (50, 60)), expected)


def test_keypoint_outline_covers_eyes_nose_and_mouth():
    mask = hull_mask(keypoint_outline(KEYPOINTS), (112, 112))
    for x, y in KEYPOINTS[:4]:
        assert mask[int(y), int(x)] == 1
    assert mask[2, 2] == 0 and mask[110, 110] == 0


def test_self_blended_frame_differs_only_inside_its_mask():
    face = _face(3)
    fake, mask = blend_frame(face, keypoint_outline(KEYPOINTS), sample_jitter(np.random.default_rng(4)))
    diff = np.any(fake != face, axis=-1)
    assert diff.any()
    assert not diff[mask == 0].any()


def test_temporal_variant_changes_the_blend_between_frames_and_the_spatial_one_does_not():
    face = _face(5)
    frames = np.stack([face] * 4)
    outlines = [keypoint_outline(KEYPOINTS)] * 4
    spatial = self_blend_clip(frames, outlines, np.random.default_rng(6), temporal=False)
    temporal = self_blend_clip(frames, outlines, np.random.default_rng(6), temporal=True)
    assert all(np.array_equal(spatial[0], f) for f in spatial[1:])
    assert not all(np.array_equal(temporal[0], f) for f in temporal[1:])
