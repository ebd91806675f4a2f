"""Graphics-based face swaps over the 468-point face mesh (numpy/opencv only).

The method of FaceForensics++'s FaceSwap, without any learned weights: a
donor's face is warped onto the target's geometry triangle by triangle,
colour-matched to the target's skin, and blended in through a soft mask.
Training uses it for cross-identity fakes and the demo for its manipulated
stream. `swap_clip` adds what makes such fakes flicker in a video: the
landmarks jitter and the blend ratio wavers from frame to frame.

Outside the target's face (the mesh's convex hull) the result is the target,
pixel for pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from edge_model.blend import blend, deform_mask, hull_mask

# The inner edge of the lips on the face mesh, in order: the mouth's opening.
INNER_LIPS = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]

# The nose tip and the outermost points of the right and left cheek on the face mesh.
NOSE_TIP, RIGHT_CHEEK, LEFT_CHEEK = 1, 234, 454

# Named points on the clean-to-sloppy scale of `sample_quality`.
QUALITY_LEVELS = {"clean": 0.0, "medium": 0.5, "sloppy": 1.0}


def triangulate(points: np.ndarray) -> np.ndarray:
    """(K, 3) int32 vertex indices of a Delaunay triangulation of `points` (x, y).

    The triangles cover the points' convex hull, which for the face mesh is
    the face from brow to chin. `swap_clip` triangulates once per clip, on the
    target's mean geometry, and applies the same indices to the donor and to
    every frame: a per-frame triangulation could flip edges between frames and
    add flicker that no quality setting asked for. (MediaPipe's own
    tessellation does not ship with the ONNX model, so it is built here.)
    """
    pts = np.asarray(points, np.float32)[:, :2]
    lo = np.floor(pts.min(0)) - 1
    hi = np.ceil(pts.max(0)) + 1
    subdiv = cv2.Subdiv2D((int(lo[0]), int(lo[1]), int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1))
    subdiv.insert([tuple(p) for p in pts.tolist()])
    index = {tuple(p): i for i, p in enumerate(pts.tolist())}
    tris = subdiv.getTriangleList().reshape(-1, 3, 2).tolist()
    out = [[index.get(tuple(v)) for v in t] for t in tris]  # vertices of the enclosing box map to None
    return np.array([t for t in out if None not in t], np.int32).reshape(-1, 3)


# Maps are computed on a grid this much coarser than the image and resized up:
# a piecewise-affine map is linear inside each triangle, so this loses only
# sub-pixel detail along triangle edges and cuts the per-pixel work fourfold.
MAP_STEP = 2


def _affine_rows(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Per triangle pair (K, 4, 3): rows that take a destination point (x, y, 1) to its two
    barycentric weights on the 2nd and 3rd vertex, and to the source point (x', y').

    Degenerate destination triangles get rows of NaN, which no inside test passes.
    """
    a, b, c = dst[:, 0], dst[:, 1], dst[:, 2]
    ab, ac = b - a, c - a
    det = ab[:, 0] * ac[:, 1] - ac[:, 0] * ab[:, 1]
    inv = np.where(np.abs(det) > 1e-6, 1.0 / np.where(det == 0, 1.0, det), np.nan)
    l1 = np.stack([ac[:, 1], -ac[:, 0], a[:, 1] * ac[:, 0] - a[:, 0] * ac[:, 1]], 1) * inv[:, None]
    l2 = np.stack([-ab[:, 1], ab[:, 0], a[:, 0] * ab[:, 1] - a[:, 1] * ab[:, 0]], 1) * inv[:, None]
    s0, s1, s2 = src[:, 0], src[:, 1], src[:, 2]
    rows = [l1, l2]
    for d in (0, 1):  # source = s0 + l1 (s1 - s0) + l2 (s2 - s0), per coordinate
        r = l1 * (s1[:, d] - s0[:, d])[:, None] + l2 * (s2[:, d] - s0[:, d])[:, None]
        r[:, 2] += s0[:, d]
        rows.append(r)
    return np.stack(rows, 1).astype(np.float32)


def _grid_points(dst: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid cells (column, row, triangle) in each triangle's bounding box (K, 3, 2, in grid units).

    Vectorized over all triangles at once: a few numpy passes over about
    twice the face's area instead of ~900 OpenCV calls a frame.
    """
    h, w = shape
    lo = np.clip(np.ceil(dst.min(1)), 0, [w, h]).astype(np.int32)  # the cells whose centre can be inside
    hi = np.clip(np.floor(dst.max(1)), -1, [w - 1, h - 1]).astype(np.int32)
    span = np.maximum(hi - lo + 1, 0)
    count = span[:, 0] * span[:, 1]
    k = np.repeat(np.arange(len(dst), dtype=np.int32), count)
    local = np.arange(int(count.sum()), dtype=np.int32) - np.repeat(np.cumsum(count) - count, count)
    width = span[k, 0]
    return lo[k, 0] + local % width, lo[k, 1] + local // width, k


def warp_face(
    donor: np.ndarray,
    donor_mesh: np.ndarray,
    target_mesh: np.ndarray,
    size: int | tuple[int, int],
    triangles: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The donor's face warped piecewise-affinely onto the target's mesh, and where it lands.

    Each triangle of the target is filled from the matching donor triangle by
    that pair's affine map, so the donor's skin, eyes and mouth take the
    target's pose and expression. Returns the warped image (H, W, 3) of the
    donor's dtype and a float32 (H, W) mask, 1 on the target mesh's convex
    hull (what the triangles cover). `triangles` default to `triangulate(target_mesh)`.
    """
    shape = (size, size) if isinstance(size, int) else tuple(size)
    tris = triangulate(target_mesh) if triangles is None else triangles
    dst = np.asarray(target_mesh, np.float64)[:, :2][tris]
    src = np.asarray(donor_mesh, np.float64)[:, :2][tris]
    rows = _affine_rows(src, dst)
    grid = (-(-shape[0] // MAP_STEP), -(-shape[1] // MAP_STEP))
    # grid cell i sits at image coordinate MAP_STEP * i + (MAP_STEP - 1) / 2, as cv2.resize samples it
    offset = (MAP_STEP - 1) / 2.0
    gx, gy, k = _grid_points((dst - offset) / MAP_STEP, grid)
    x = (gx * MAP_STEP + offset).astype(np.float32)[:, None]
    y = (gy * MAP_STEP + offset).astype(np.float32)[:, None]
    r = rows[k]
    v = r[:, :, 0] * x + r[:, :, 1] * y + r[:, :, 2]  # (P, 4): l1, l2, x', y'
    inside = (v[:, 0] >= -1e-4) & (v[:, 1] >= -1e-4) & (v[:, 0] + v[:, 1] <= 1.0 + 1e-4)
    maps = np.zeros((3, *grid), np.float32)  # x', y', covered
    maps[0, gy[inside], gx[inside]] = v[inside, 2]
    maps[1, gy[inside], gx[inside]] = v[inside, 3]
    maps[2, gy[inside], gx[inside]] = 1.0
    # extend the maps one cell past the hull, so resizing them up stays right at its edge
    spread = cv2.boxFilter(maps.transpose(1, 2, 0), -1, (3, 3), normalize=False)
    ring = (maps[2] == 0) & (spread[..., 2] > 0)
    for d in (0, 1):
        maps[d][ring] = spread[..., d][ring] / spread[..., 2][ring]
    full = cv2.resize(maps[:2].transpose(1, 2, 0), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    warped = cv2.remap(donor, full[..., 0], full[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return warped, hull_mask(np.asarray(target_mesh)[:, :2], shape)


def match_colour(src: np.ndarray, ref: np.ndarray, region: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """`src` (uint8 RGB) with its LAB mean and spread moved towards `ref`'s inside `region` (Reinhard).

    A donor's face lit differently from the target's is the loudest sign of a
    swap; `strength` 1 matches the statistics, 0 leaves the donor's colours.
    """
    inside = (np.asarray(region) > 0).astype(np.uint8)
    if strength <= 0 or inside.sum() < 2:
        return src
    lab_s = cv2.cvtColor(src, cv2.COLOR_RGB2LAB)
    ms, ss = (v.ravel() for v in cv2.meanStdDev(lab_s, mask=inside))
    mr, sr = (v.ravel() for v in cv2.meanStdDev(cv2.cvtColor(ref, cv2.COLOR_RGB2LAB), mask=inside))
    # spread ratio clamped: a flat-coloured donor would otherwise have its JPEG chroma noise blown up
    scale = 1.0 + strength * (np.clip((sr + 1e-3) / (ss + 1e-3), 0.6, 1.6) - 1.0)
    shift = ms + strength * (mr - ms) - ms * scale
    lab = cv2.transform(lab_s, np.column_stack([np.diag(scale), shift]))  # saturates to 0..255
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def seam_correction(
    fg: np.ndarray, bg: np.ndarray, mask: np.ndarray, sigma: float, limit: float = 24.0
) -> np.ndarray:
    """`fg` plus a smooth offset field that makes it meet `bg` along the edge of `mask` (uint8 RGB).

    A Poisson blend's effect on a face is mostly this offset: the difference
    along the edge, diffused inwards. It is computed by normalized convolution
    of that difference on a band along the edge, at a quarter of the
    resolution (the offset is smooth), because cv2.seamlessClone costs about
    15 ms for a 160 px face here, several frames' budget, and changes pixels
    outside its mask.
    """
    hard = (np.asarray(mask) > 0).astype(np.uint8)
    band = (hard - cv2.erode(hard, np.ones((3, 3), np.uint8))).astype(np.float32)
    # clipped, so that a dark brow or a strand of hair on the edge does not bleed a blotch inwards
    diff = np.clip(bg.astype(np.float32) - fg.astype(np.float32), -limit, limit) * band[..., None]
    h, w = hard.shape
    small = (max(1, w // 4), max(1, h // 4))
    num = cv2.GaussianBlur(cv2.resize(diff, small, interpolation=cv2.INTER_AREA), (0, 0), sigma / 4)
    den = cv2.GaussianBlur(cv2.resize(band, small, interpolation=cv2.INTER_AREA), (0, 0), sigma / 4)
    offset = cv2.resize(num / np.maximum(den, 1e-4)[..., None], (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.rint(fg + offset), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class SwapQuality:
    """How carefully a swap is made. Lengths are fractions of the face's size."""

    feather: float  # blur sigma of the mask's edge
    shrink: float  # how far inside the mesh hull the seam lies
    deform: float  # elastic deformation of the mask (blend.deform_mask's strength)
    colour: float  # colour-match strength, 0..1
    blur: float  # blur sigma of the donor face (low-resolution source)
    jitter: float  # per-frame landmark noise
    ratio: float  # blend ratio; < 1 lets the target's features ghost through
    flicker: float  # per-frame spread of the blend ratio
    poisson: bool  # seam_correction (Poisson-style) before the alpha blend
    mask_seed: int  # the mask's deformation, fixed for a clip so the mask follows the face


def sample_quality(rng: np.random.Generator, level: float | None = None) -> SwapQuality:
    """Random settings at `level` 0 (clean) .. 1 (sloppy); a random level when None."""
    s = float(rng.uniform(0.0, 1.0) if level is None else np.clip(level, 0.0, 1.0))

    def lerp(clean: float, sloppy: float) -> float:
        return float((clean + s * (sloppy - clean)) * rng.uniform(0.75, 1.25))

    return SwapQuality(
        feather=lerp(0.05, 0.01),
        shrink=lerp(0.06, 0.01),
        deform=lerp(0.1, 0.6),
        colour=min(1.0, lerp(1.0, 0.35)),
        blur=lerp(0.0, 0.012),
        jitter=lerp(0.002, 0.02),
        ratio=1.0 - lerp(0.0, 0.1),
        flicker=lerp(0.0, 0.06),
        poisson=bool(rng.random() < 0.6 * (1.0 - s) + 0.1),
        mask_seed=int(rng.integers(1 << 31)),
    )


def face_size(points: np.ndarray) -> float:
    """Geometric mean of the mesh's width and height, in pixels."""
    extent = np.ptp(np.asarray(points, np.float32)[:, :2], axis=0)
    return float(np.sqrt(max(extent[0] * extent[1], 1.0)))


def yaw(points: np.ndarray) -> np.ndarray:
    """How far the head is turned, for meshes (..., 468, 2): where the nose tip lies between the
    cheeks, -0.5..0.5 (0 frontal).

    A donor turned away from the target's pose has its far side squeezed into
    a few pixels, which the warp then stretches over half the target's face;
    donors are picked with a yaw near the target's.
    """
    pts = np.asarray(points, np.float64)[..., :2]
    axis = pts[..., LEFT_CHEEK, :] - pts[..., RIGHT_CHEEK, :]
    along = ((pts[..., NOSE_TIP, :] - pts[..., RIGHT_CHEEK, :]) * axis).sum(-1)
    return along / np.maximum((axis * axis).sum(-1), 1e-6) - 0.5


def jitter_points(points: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Landmarks with a tracker's frame-to-frame noise: a small similarity offset of the
    whole face plus a smaller per-point wobble (`amount` a fraction of the face size)."""
    pts = np.asarray(points, np.float32)[:, :2]
    if amount <= 0:
        return pts
    size = face_size(pts)
    centre = pts.mean(0)
    angle = rng.normal(0.0, amount)  # radians: amount 0.02 is about 1 degree
    scale = 1.0 + rng.normal(0.0, amount)
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    moved = (pts - centre) @ rot.T + centre + rng.normal(0.0, amount * size, 2)
    return (moved + rng.normal(0.0, 0.15 * amount * size, pts.shape)).astype(np.float32)


def swap_frame(
    target: np.ndarray,
    target_mesh: np.ndarray,
    donor: np.ndarray,
    donor_mesh: np.ndarray,
    quality: SwapQuality,
    triangles: np.ndarray | None = None,
    ratio: float | None = None,
) -> np.ndarray:
    """One swapped frame: warp, blur, colour-match, mask, seam-correct, blend (uint8 RGB).

    The mask is the target's face hull, shrunk, deformed and feathered, less
    the inside of the lips: the target's own teeth and tongue stay, as the
    donor's closed lips stretched over an open mouth would be absurd.
    """
    pts = np.asarray(target_mesh, np.float32)[:, :2]
    x, y, w, h = cv2.boundingRect(np.round(pts).astype(np.int32))  # nothing outside the hull changes:
    x0, y0 = max(x, 0), max(y, 0)  # work on the face's box only
    x1, y1 = min(x + w, target.shape[1]), min(y + h, target.shape[0])
    out = target.copy()
    if x1 - x0 < 2 or y1 - y0 < 2:
        return out
    roi = target[y0:y1, x0:x1]
    pts = pts - np.float32([x0, y0])
    warped, hull = warp_face(donor, donor_mesh, pts, roi.shape[:2], triangles)
    warped = np.where(hull[..., None] > 0, warped, roi)  # what a blur may smear in from outside
    size = face_size(pts)
    if quality.blur * size > 0.3:
        warped = cv2.GaussianBlur(warped, (0, 0), quality.blur * size)
    warped = match_colour(warped, roi, hull, quality.colour)
    k = 2 * int(round(quality.shrink * size)) + 1
    inner = cv2.erode(hull, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) if k > 1 else hull.copy()
    cv2.fillPoly(inner, [np.round(pts[INNER_LIPS]).astype(np.int32)], 0.0)
    feather = quality.feather * size / min(roi.shape[:2])
    soft = deform_mask(inner, np.random.default_rng(quality.mask_seed), quality.deform, feather) * hull
    if quality.poisson:
        warped = seam_correction(warped, roi, inner, 0.4 * size)
    out[y0:y1, x0:x1] = blend(roi, warped, soft, quality.ratio if ratio is None else ratio)
    return out


def swap_clip(
    frames: np.ndarray,
    meshes: Sequence[np.ndarray] | np.ndarray,
    donor: np.ndarray,
    donor_mesh: np.ndarray,
    rng: np.random.Generator,
    quality: SwapQuality | None = None,
) -> np.ndarray:
    """The donor's face swapped onto every frame of a clip (T, S, S, 3) uint8 RGB.

    One triangulation, quality and mask shape for the clip; per frame, the
    target's landmarks jitter and the blend ratio flickers by the quality's
    amounts, the temporal artifacts of a face swapped frame by frame.
    `quality` defaults to `sample_quality(rng)`.
    """
    q = sample_quality(rng) if quality is None else quality
    targets = [np.asarray(m, np.float32)[:, :2] for m in meshes]
    triangles = triangulate(np.mean(targets, axis=0))
    out = np.empty_like(frames)
    for t, (frame, pts) in enumerate(zip(frames, targets)):
        ratio = float(np.clip(q.ratio + rng.normal(0.0, q.flicker), 0.6, 1.0)) if q.flicker > 0 else q.ratio
        out[t] = swap_frame(frame, jitter_points(pts, q.jitter, rng), donor, donor_mesh, q, triangles, ratio)
    return out

