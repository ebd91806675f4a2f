"""The crop contract: one function, deterministic, with the documented shape and normalization."""

from __future__ import annotations

import numpy as np
import pytest

from edge_model.crop import CropSpec, crop_face, crop_transform, map_points, normalize


@pytest.fixture
def frame():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)


BOX = np.array([100, 60, 180, 160], np.float32)
KPS = np.array([[120, 90], [160, 94], [140, 115], [140, 135], [105, 100], [175, 104]], np.float32)


def test_same_input_same_tensor(frame):
    spec = CropSpec(size=64)
    a = normalize(crop_face(frame, BOX, KPS, spec), spec)[0]
    b = normalize(crop_face(frame.copy(), BOX.copy(), KPS.copy(), spec), spec)[0]
    assert a.shape == (3, 64, 64) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_normalization_uses_the_spec():
    spec = CropSpec(size=4, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))
    crops = np.zeros((2, 4, 4, 3), np.uint8)
    crops[..., 0], crops[..., 1], crops[..., 2] = 255, 0, 51
    x = normalize(crops, spec)
    assert x.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(x[:, 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(x[:, 1], -1.0, atol=1e-6)
    np.testing.assert_allclose(x[:, 2], 0.2, atol=1e-6)


def test_crop_is_rgb_and_centred_on_the_box():
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[80:120, 80:120] = (255, 0, 0)  # blue in BGR
    crop = crop_face(frame, np.array([80, 80, 120, 120], np.float32), None, CropSpec(size=32, margin=1.0))
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    assert crop[16, 16].tolist() == [0, 0, 255]  # RGB


def test_margin_enlarges_the_square():
    m1 = crop_transform(BOX, None, CropSpec(size=100, margin=1.0, align=False))
    m2 = crop_transform(BOX, None, CropSpec(size=100, margin=2.0, align=False))
    assert m1[0, 0] == pytest.approx(2 * m2[0, 0])


def test_alignment_levels_the_eyes(frame):
    tilted = KPS.copy()
    tilted[1] = [160, 110]  # the left eye lower: head rolled
    m = crop_transform(BOX, tilted, CropSpec(size=64, align=True))
    eyes = map_points(tilted[:2], m)
    assert eyes[0, 1] == pytest.approx(eyes[1, 1], abs=1e-3)
    assert eyes[0, 0] < eyes[1, 0]
