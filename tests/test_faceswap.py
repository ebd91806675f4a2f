"""Cross-identity face swaps: the warp, the mask, the temporal artifacts, and the donor pool.

Faces and meshes are synthetic (a point cloud in an ellipse stands in for the
468-point mesh) except in the last test, which swaps two LFW photos.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_model.blend import hull_mask
from edge_model.facemesh import MESH_POINTS
from edge_model.faceswap import (
    LEFT_CHEEK,
    NOSE_TIP,
    RIGHT_CHEEK,
    match_colour,
    sample_quality,
    swap_clip,
    swap_frame,
    triangulate,
    warp_face,
    yaw,
)
from tests.conftest import shared_data
from training.store import Clip, ClipRecord, Dataset
from training.swaps import DonorPool, identities

S = 128


def _mesh(seed: int = 0, centre: tuple[float, float] = (64, 66), axes: tuple[float, float] = (38, 48)) -> np.ndarray:
    """468 points spread over an ellipse: the stand-in for a face mesh, (468, 2) float32."""
    rng = np.random.default_rng(seed)
    r, a = np.sqrt(rng.uniform(0, 1, MESH_POINTS)), rng.uniform(0, 2 * np.pi, MESH_POINTS)
    return np.column_stack([centre[0] + axes[0] * r * np.cos(a), centre[1] + axes[1] * r * np.sin(a)]).astype(np.float32)


def _image(seed: int, size: int = S) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def _smooth(size: int = S) -> np.ndarray:
    """A smooth colour pattern: bilinear resampling of it is nearly exact."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.stack([x * 200 / size, y * 200 / size, 128 + 60 * np.sin(x / 9) * np.cos(y / 11)], -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_triangles_tile_the_hull_of_the_points():
    pts = _mesh(1)
    tris = triangulate(pts)
    assert tris.dtype == np.int32 and tris.shape[1] == 3 and tris.min() >= 0 and tris.max() < len(pts)
    a, b, c = (pts[tris[:, i]].astype(np.float64) for i in range(3))
    area = 0.5 * np.abs((b - a)[:, 0] * (c - a)[:, 1] - (c - a)[:, 0] * (b - a)[:, 1]).sum()
    assert area == pytest.approx(cv2.contourArea(cv2.convexHull(pts)), rel=1e-3)


def test_warp_reproduces_a_face_moved_by_an_affine_map():
    """When the donor is the target under one affine map, the piecewise-affine warp undoes it."""
    target, target_mesh = _smooth(), _mesh(2)
    m = cv2.getRotationMatrix2D((64, 64), 12, 0.9)
    m[:, 2] += (5, -4)
    donor = cv2.warpAffine(target, m, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    donor_mesh = cv2.transform(target_mesh[None], m)[0]
    warped, hull = warp_face(donor, donor_mesh, target_mesh, S)
    assert warped.shape == target.shape and warped.dtype == np.uint8 and hull.shape == (S, S)
    inner = cv2.erode(hull, np.ones((5, 5), np.uint8)) > 0
    err = np.abs(warped.astype(int) - target.astype(int))[inner]
    assert err.mean() < 1.5 and np.percentile(err, 99) < 8


def test_warp_accepts_a_donor_of_another_size():
    donor_mesh = _mesh(3) * 1.6
    warped, hull = warp_face(_image(3, 205), donor_mesh, _mesh(4), (S, S))
    assert warped.shape == (S, S, 3) and hull.sum() > 0.3 * S * S


def test_colour_match_moves_the_face_statistics_to_the_target():
    region = hull_mask(_mesh(5), (S, S)) > 0
    src = np.clip(_smooth() * 0.6 + 20, 0, 255).astype(np.uint8)
    ref = cv2.cvtColor(_smooth(), cv2.COLOR_RGB2BGR)
    lab = lambda img: cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)[region]  # noqa: E731
    matched = match_colour(src, ref, region, 1.0)
    assert np.abs(lab(matched).mean(0) - lab(ref).mean(0)).max() < 3
    assert np.abs(lab(matched).std(0) - lab(ref).std(0)).max() < 4
    np.testing.assert_array_equal(match_colour(src, ref, region, 0.0), src)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), level=st.floats(0.0, 1.0))
def test_swap_changes_pixels_only_inside_the_face_hull(seed, level):
    rng = np.random.default_rng(seed)
    target, mesh = _image(seed), _mesh(seed % 7)
    quality = sample_quality(rng, level)
    out = swap_frame(target, mesh, _image(seed + 1), _mesh(seed % 5 + 10), quality)
    assert out.shape == target.shape and out.dtype == np.uint8
    hull = hull_mask(mesh, (S, S)) > 0
    changed = np.any(out != target, axis=-1)
    assert not changed[~hull].any()
    assert changed[hull].mean() > 0.3  # the seam's shrink and feather and the open mouth keep the target's pixels


def _clip(t: int = 6) -> tuple[np.ndarray, list[np.ndarray]]:
    face, mesh = _image(20), _mesh(20)
    return np.stack([face] * t), [mesh] * t


def test_swap_clip_is_deterministic_for_a_seed():
    frames, meshes = _clip()
    a = swap_clip(frames, meshes, _image(21), _mesh(21), np.random.default_rng(7))
    b = swap_clip(frames, meshes, _image(21), _mesh(21), np.random.default_rng(7))
    assert a.shape == frames.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)


def test_jitter_and_flicker_change_the_swap_from_frame_to_frame():
    """A still clip swapped with jitter and flicker flickers; without them it stays still."""
    frames, meshes = _clip()
    quality = sample_quality(np.random.default_rng(8), 1.0)
    moving = swap_clip(frames, meshes, _image(22), _mesh(22), np.random.default_rng(9), quality)
    assert all(not np.array_equal(moving[0], f) for f in moving[1:])
    still = swap_clip(
        frames, meshes, _image(22), _mesh(22), np.random.default_rng(9), replace(quality, jitter=0.0, flicker=0.0)
    )
    assert all(np.array_equal(still[0], f) for f in still[1:])


def test_sampled_qualities_run_from_clean_to_sloppy():
    clean = [sample_quality(np.random.default_rng(i), 0.0) for i in range(50)]
    sloppy = [sample_quality(np.random.default_rng(i), 1.0) for i in range(50)]
    mean = lambda qs, k: np.mean([getattr(q, k) for q in qs])  # noqa: E731
    for key in ("feather", "shrink", "colour", "ratio"):
        assert mean(clean, key) > mean(sloppy, key)
    for key in ("deform", "blur", "jitter", "flicker"):
        assert mean(clean, key) < mean(sloppy, key)


# --- the donor pool over a prepared dataset


def _record(i: int, group: str, label: int, n: int, has_mesh: bool) -> ClipRecord:
    return ClipRecord(
        clip=f"clip{i}", video_id=f"video{i}", group=group, label=label, method="real", source="test",
        track=1, n_frames=n, first_frame=0, last_frame=n - 1, has_mesh=has_mesh,
    )


def _dataset(tmp_path) -> tuple[Dataset, list[ClipRecord]]:
    """Clips of people a, b, c, d (d without a mesh) and a fake of e, with one shown as `a+c`."""
    data = Dataset(tmp_path / "ds")
    data.clips_dir.mkdir(parents=True)
    specs = [("a", 0, True, 3), ("b", 0, True, 1), ("a+c", 0, True, 4), ("c", 0, True, 1), ("d", 0, False, 2), ("e", 1, True, 2)]
    records = []
    for i, (group, label, has_mesh, n) in enumerate(specs):
        r = _record(i, group, label, n, has_mesh)
        mesh = np.stack([_mesh(30 + i + k) for k in range(n)]) if has_mesh else None
        faces = np.stack([_image(40 + i + k) for k in range(n)])
        data.write_clip(r, Clip(faces, np.arange(n), np.zeros((n, 6, 2), np.float32), mesh))
        records.append(r)
    return data, records


def test_donor_never_shares_an_identity_and_is_real_with_a_mesh(tmp_path):
    data, records = _dataset(tmp_path)
    pool = DonorPool(data, records)
    assert {r.group for r in pool.donors} == {"a", "b", "a+c", "c"}
    for group in ("a", "c", "a+b", "x", "b+c"):
        picked = {pool.pick(group, 0.0, np.random.default_rng(s)).record.group for s in range(60)}
        assert all(not identities(g) & identities(group) for g in picked), (group, picked)
    assert pool.pick("a+b+c", 0.0, np.random.default_rng(0)) is None


def _turned(mesh: np.ndarray, turn: float) -> np.ndarray:
    """`mesh` with its cheeks at x 30 and 98 and the nose tip placed for a yaw of `turn`."""
    out = mesh.copy()
    out[[RIGHT_CHEEK, LEFT_CHEEK, NOSE_TIP]] = [[30, 60], [98, 60], [64 + 68 * turn, 70]]
    return out


def test_donor_is_turned_like_the_target(tmp_path):
    data = Dataset(tmp_path / "ds")
    data.clips_dir.mkdir(parents=True)
    records = []
    for i, turns in enumerate([(-0.3, -0.25), (0.3, 0.02, -0.1)]):  # a photo-like clip and a video-like one
        n = len(turns)
        r = _record(i, f"p{i}", 0, n, True)
        mesh = np.stack([_turned(_mesh(50 + k), t) for k, t in enumerate(turns)])
        data.write_clip(r, Clip(np.stack([_image(60 + k) for k in range(n)]), np.arange(n), np.zeros((n, 6, 2)), mesh))
        records.append(r)
    assert yaw(_turned(_mesh(0), 0.1)) == pytest.approx(0.1)
    pool = DonorPool(data, records)
    for s in range(10):
        donor = pool.pick("x", 0.05, np.random.default_rng(s))
        assert donor.record.clip == "clip1" and yaw(donor.mesh) == pytest.approx(0.02)
        assert pool.pick("x", -0.35, np.random.default_rng(s)).record.clip == "clip0"


def test_swap_window_makes_a_fake_twin_or_none(tmp_path):
    data, records = _dataset(tmp_path)
    pool = DonorPool(data, records)
    frames, meshes = _clip(4)
    twin = pool.swap_window(frames, np.stack(meshes), "a", np.random.default_rng(1))
    assert twin.shape == frames.shape and twin.dtype == np.uint8 and not np.array_equal(twin, frames)
    np.testing.assert_array_equal(twin, pool.swap_window(frames, meshes, "a", np.random.default_rng(1)))
    assert pool.swap_window(frames, None, "a", np.random.default_rng(1)) is None
    nan = np.stack(meshes)
    nan[2, 5] = np.nan
    assert pool.swap_window(frames, nan, "a", np.random.default_rng(1)) is None
    assert pool.swap_window(frames, meshes, "a+b+c", np.random.default_rng(1)) is None
    assert DonorPool(data, []).swap_window(frames, meshes, "a", np.random.default_rng(1)) is None


@pytest.mark.shared_data
def test_swapped_lfw_face_keeps_the_target_pose():
    """Ralph Nader's face on Katie Boone's head: the face mesh of the result is hers, in place."""
    from edge_model.detector import FaceDetector
    from edge_model.facemesh import FaceMesh

    lfw = shared_data("real_photos", "lfw")
    detector, mesher = FaceDetector("short"), FaceMesh()

    def face(name: str) -> tuple[np.ndarray, np.ndarray]:
        bgr = cv2.imread(str(lfw / f"{name}.jpg"))
        det = max(detector.detect(bgr), key=lambda d: d.score)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), mesher.landmarks(bgr, det.box, det.keypoints)[:, :2]

    (target, target_mesh), (donor, donor_mesh) = face("Katie_Boone"), face("Ralph_Nader")
    quality = replace(sample_quality(np.random.default_rng(0), 0.0), jitter=0.0)
    out = swap_clip(target[None], [target_mesh], donor, donor_mesh, np.random.default_rng(0), quality)[0]
    hull = hull_mask(target_mesh, target.shape[:2]) > 0
    np.testing.assert_array_equal(out[~hull], target[~hull])
    assert np.abs(out.astype(int) - target.astype(int))[hull].mean() > 8  # another face
    bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
    det = max(detector.detect(bgr), key=lambda d: d.score)
    moved = np.linalg.norm(mesher.landmarks(bgr, det.box, det.keypoints)[:, :2] - target_mesh, axis=1)
    assert np.median(moved) < 0.04 * np.ptp(target_mesh[:, 0])  # the pose is the target's
