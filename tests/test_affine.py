"""edge_model.affine against OpenCV, which made every crop the packaged model was trained on."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_model import affine


def smooth_frame(shape=(480, 640, 3), seed: int = 0) -> np.ndarray:
    """Noise blurred to the sharpness of a face in a video (sharper than most)."""
    noise = np.random.default_rng(seed).integers(0, 256, shape, np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2)


def random_crops(n: int, seed: int = 1):
    """Crop matrices as crop_transform makes them: any centre (also off the frame), side and eye angle."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        cx, cy, side, angle = rng.uniform(-60, 700), rng.uniform(-60, 540), rng.uniform(30, 400), rng.uniform(-45, 45)
        m = cv2.getRotationMatrix2D((cx, cy), angle, 128 / side)
        m[0, 2] += 64 - cx
        m[1, 2] += 64 - cy
        yield (cx, cy), angle, 128 / side, m


def test_the_matrices_are_opencvs():
    for center, angle, scale, m in random_crops(100):
        np.testing.assert_allclose(affine.rotation_matrix(center, angle, scale),
                                   cv2.getRotationMatrix2D(center, angle, scale), atol=1e-12)
        np.testing.assert_allclose(affine.invert(m), cv2.invertAffineTransform(m), rtol=1e-9, atol=1e-9)


def test_a_crop_is_opencvs_within_three_levels():
    frame = smooth_frame()
    differing = []
    for *_, m in random_crops(200):
        ours = affine.warp_rgb(frame, m, 128)
        theirs = cv2.cvtColor(cv2.warpAffine(frame, m, (128, 128), flags=cv2.INTER_LINEAR,
                                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)),
                              cv2.COLOR_BGR2RGB)
        assert ours.dtype == np.uint8 and ours.shape == (128, 128, 3)
        diff = np.abs(ours.astype(int) - theirs)
        assert diff.max() <= 3
        differing.append((diff > 0).mean())
    assert np.mean(differing) < 0.03  # nearly every pixel is OpenCV's exactly


def test_whole_pixel_moves_copy_pixels_and_the_border_is_black():
    frame = smooth_frame((40, 50, 3))
    m = np.array([[1.0, 0.0, -5.0], [0.0, 1.0, 3.0]])  # crop pixel (x, y) is frame pixel (x + 5, y - 3)
    out = affine.warp_rgb(frame, m, 32)
    np.testing.assert_array_equal(out[3:], frame[:29, 5:37, ::-1])
    assert not out[:3].any()  # above the frame
    assert not affine.warp_rgb(frame, np.array([[1.0, 0, 500], [0, 1.0, 0]]), 16).any()  # wholly off the frame


@pytest.mark.parametrize("shape", [(480, 640, 3), (720, 1280, 3), (480, 854, 3), (358, 358, 3), (1080, 1920, 3)])
@pytest.mark.parametrize("size", [(128, 96), (128, 72), (192, 108), (100, 37), (128, 128), (20, 30)])
def test_shrinking_is_opencvs_to_the_level(shape, size):
    """The detector's input: a level's difference there moved the model's scores by 0.1 (p95) through the boxes."""
    frame = smooth_frame(shape)
    ours = affine.resize(frame, *size)
    assert ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))


def test_enlarging_is_opencvs_within_a_level():
    frame = smooth_frame((37, 53, 3))
    diff = np.abs(affine.resize(frame, 128, 96).astype(int) - cv2.resize(frame, (128, 96)))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_the_detectors_input_is_opencvs_blob():
    from edge_model.detector import letterbox

    for shape in [(480, 640, 3), (720, 1280, 3), (1080, 1920, 3), (640, 480, 3)]:
        frame = smooth_frame(shape)
        canvas = np.zeros((128, 128, 3), np.uint8)
        blob, lb = letterbox(frame, 128)
        nh, nw = round(shape[0] * lb.scale_y), round(shape[1] * lb.scale_x)
        canvas[lb.pad_y:lb.pad_y + nh, lb.pad_x:lb.pad_x + nw] = cv2.resize(frame, (nw, nh))
        expected = cv2.dnn.blobFromImage(canvas, 1 / 127.5, mean=(127.5, 127.5, 127.5), swapRB=True)
        np.testing.assert_allclose(blob, expected, atol=1e-6)


@pytest.mark.parametrize("side, center", [(1e6, (320.0, 240.0)), (300.0, (-5000.0, 100.0)), (1e7, (1e8, 5.0))])
def test_a_box_far_larger_than_the_frame_or_far_off_it_costs_no_huge_array(side, center):
    """A box from a tracker gone astray: the pixels packed stay within the frame and a border (the whole grid
    would be a 1e6-pixel square), and the crop is still OpenCV's."""
    frame = smooth_frame()
    m = cv2.getRotationMatrix2D(center, 10.0, 128 / side)
    m[0, 2] += 64 - center[0]
    m[1, 2] += 64 - center[1]
    theirs = cv2.cvtColor(cv2.warpAffine(frame, m, (128, 128), flags=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    assert np.abs(affine.warp_rgb(frame, m, 128).astype(int) - theirs).max() <= 3
