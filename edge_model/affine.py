"""Bilinear warps in NumPy: the face crop and the detector's input, without OpenCV.

A worker that imports OpenCV holds 42 MiB more RSS (its 80 MB library, mostly
mapped at import); these two functions are all a worker needed it for. OpenCV
is faster at them (0.045 against 0.31 ms a 128 px crop; 0.07 against about
0.3 ms for the detector's input), which costs the offline pipeline about 12 %
of its frames a second: README, "A worker without OpenCV". Both sample where
OpenCV samples (`cv2.warpAffine` with INTER_LINEAR and a black border;
`cv2.resize` with INTER_LINEAR). The resize also does OpenCV's fixed-point
arithmetic, so its output is OpenCV's; the warp weighs the four neighbours in
1/64 of a pixel, within 3 levels of OpenCV (tests/test_affine.py,
training/reports/numpy_crop/ for what that does to the model's scores).
"""

from __future__ import annotations

import functools
import math

import numpy as np

SUBPIXEL_BITS = 6  # a position's fraction in 1/64 pixel
ONE = 1 << SUBPIXEL_BITS
# A pixel's three channels share one uint64, 21 bits apart: the weighted sum of four
# neighbours is at most 255 * 64 * 64 < 2**21, so the lanes never carry into each other.
LANE = 21
HALF = np.uint64(sum((ONE * ONE // 2) << (LANE * k) for k in range(3)))


def rotation_matrix(center: tuple[float, float], angle_deg: float, scale: float) -> np.ndarray:
    """The 2x3 matrix that rotates by `angle_deg` (counter-clockwise) about `center` and scales:
    `cv2.getRotationMatrix2D`, which takes the centre in float32."""
    a = math.radians(angle_deg)
    alpha, beta = scale * math.cos(a), scale * math.sin(a)
    cx, cy = (float(np.float32(v)) for v in center)
    return np.array([[alpha, beta, (1 - alpha) * cx - beta * cy], [-beta, alpha, beta * cx + (1 - alpha) * cy]])


def invert(m: np.ndarray) -> np.ndarray:
    """The inverse of a 2x3 affine matrix (`cv2.invertAffineTransform`)."""
    (a, b, c), (d, e, f) = np.asarray(m, np.float64)
    det = a * e - b * d
    r = 1.0 / det if det != 0 else 0.0
    return np.array([[e * r, -b * r, (b * f - e * c) * r], [-d * r, a * r, (d * c - a * f) * r]])


def warp_rgb(frame_bgr: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The size x size image that `m` maps `frame_bgr` to, RGB, black outside the frame."""
    inv = invert(m)
    h, w = frame_bgr.shape[:2]
    step = np.arange(size, dtype=np.float64) * ONE
    # Source positions in 1/64 pixel: a row's start plus a column's step, as OpenCV builds them.
    col_x, col_y = np.rint(inv[0, 0] * step).astype(np.int64), np.rint(inv[1, 0] * step).astype(np.int64)
    row_x = np.rint(inv[0, 1] * step + inv[0, 2] * ONE).astype(np.int64)
    row_y = np.rint(inv[1, 1] * step + inv[1, 2] * ONE).astype(np.int64)
    x_lo, x_hi = int(row_x.min() + col_x.min()), int(row_x.max() + col_x.max())
    y_lo, y_hi = int(row_y.min() + col_y.min()), int(row_y.max() + col_y.max())
    beyond = x_lo < -ONE or y_lo < -ONE or x_hi > w * ONE or y_hi > h * ONE
    if beyond:  # a pixel or more beyond the frame all is black: positions are held there (below), and
        # the pixels packed stay within the frame and a border (a huge box costs no huge array)
        x_lo, x_hi = min(max(x_lo, -ONE), w * ONE), min(max(x_hi, -ONE), w * ONE)
        y_lo, y_hi = min(max(y_lo, -ONE), h * ONE), min(max(y_hi, -ONE), h * ONE)
    # Positions relative to the grid's corner pixel: non-negative, so the masks give the fractions. The
    # corner comes off the rows' starts before the grid is built: one pass over the grid fewer.
    ox, oy = (x_lo >> SUBPIXEL_BITS) << SUBPIXEL_BITS, (y_lo >> SUBPIXEL_BITS) << SUBPIXEL_BITS
    sx, sy = (row_x - ox)[:, None] + col_x, (row_y - oy)[:, None] + col_y
    if beyond:
        np.clip(sx, -ONE - ox, w * ONE - ox, out=sx)
        np.clip(sy, -ONE - oy, h * ONE - oy, out=sy)
    roi = _packed(frame_bgr, ox >> SUBPIXEL_BITS, oy >> SUBPIXEL_BITS, (x_hi >> SUBPIXEL_BITS) + 2,
                  (y_hi >> SUBPIXEL_BITS) + 2)
    flat = roi.reshape(-1)
    rw = roi.shape[1]
    idx = sy >> SUBPIXEL_BITS
    idx *= rw
    idx += sx >> SUBPIXEL_BITS
    sx &= ONE - 1
    sy &= ONE - 1
    fx, fy = sx.view(np.uint64), sy.view(np.uint64)
    gx, gy = ONE - fx, ONE - fy
    # Along x, then along y: the same sums as the four products of the weights. The right and lower
    # neighbours come from views of the pixels shifted by one and by a row, not from shifted indices.
    top = flat.take(idx)
    top *= gx
    part = flat[1:].take(idx)
    part *= fx
    top += part
    bottom = flat[rw:].take(idx)
    bottom *= gx
    flat[rw + 1:].take(idx, out=part)
    part *= fx
    bottom += part
    top *= gy
    bottom *= fy
    top += bottom
    top += HALF
    top >>= np.uint64(2 * SUBPIXEL_BITS)
    out = np.empty((size, size, 3), np.uint8)
    for channel in range(3):  # storing into uint8 keeps each lane's low byte: its level
        np.right_shift(top, np.uint64(LANE * channel), out=part)
        out[..., channel] = part
    return out


def _packed(frame_bgr: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """The frame's pixels in [x0, x1) x [y0, y1) as uint64 (R, G, B lanes), zero outside the frame."""
    h, w = frame_bgr.shape[:2]
    roi = np.zeros((y1 - y0, x1 - x0), np.uint64)
    fx0, fx1, fy0, fy1 = max(x0, 0), min(x1, w), max(y0, 0), min(y1, h)
    if fx0 < fx1 and fy0 < fy1:
        src = frame_bgr[fy0:fy1, fx0:fx1]
        part = roi[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        part[...] = src[..., 2]
        part |= src[..., 1].astype(np.uint64) << np.uint64(LANE)
        part |= src[..., 0].astype(np.uint64) << np.uint64(2 * LANE)
    return roi


def resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """`frame` (H, W, C) uint8 resized to (height, width, C) uint8 as `cv2.resize` INTER_LINEAR resizes it:
    the same taps and OpenCV's own fixed-point arithmetic, so a shrunk frame is OpenCV's to the level (an
    enlarged one within one level). The detector is that exact: a level's difference in its input moved its
    boxes enough to move the model's scores by 0.1 at the 95th percentile."""
    h, w, c = frame.shape
    ys, y_weights = _taps(h, height)
    xs, x_weights = _taps(w, width)
    if not y_weights[1].any() and not x_weights[1].any():
        # An odd whole factor each way (640x480 or 1920x1080 to BlazeFace's 128 px): every sample falls on a
        # pixel, whose weights (2048, 0) give its own level back, so the arithmetic below would copy it.
        return frame.take(ys, axis=0).take(xs, axis=1)
    rows = frame.take(np.concatenate([ys, np.minimum(ys + 1, h - 1)]), axis=0).reshape(2 * height, w * c)
    taps = np.concatenate([xs, np.minimum(xs + 1, w - 1)])
    px = rows.take((taps[:, None] * c + np.arange(c)).ravel(), axis=1).astype(np.int32)
    px = px.reshape(2 * height, 2, width * c)  # rows of width * c: numpy's inner loops stay long
    across = px[:, 0] * np.repeat(x_weights[0], c)
    across += px[:, 1] * np.repeat(x_weights[1], c)
    across >>= 4
    out = (across[:height] * y_weights[0][:, None]) >> 16
    out += (across[height:] * y_weights[1][:, None]) >> 16
    out += 2
    out >>= 2
    return out.astype(np.uint8).reshape(height, width, c)


RESIZE_ONE = 2048  # OpenCV's INTER_RESIZE_COEF_SCALE


@functools.lru_cache(maxsize=16)
def _taps(n_in: int, n_out: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """For each output index, the input index before its sample, and the two taps' weights (summing to 2048),
    computed in float32 as OpenCV computes them. Cached per size pair (a stream's frames share one), so the
    arrays are read-only."""
    pos = ((np.arange(n_out) + 0.5) * (1.0 / (n_out / n_in)) - 0.5).astype(np.float32)
    left = np.floor(pos).astype(np.intp)
    frac = pos - left
    frac[left < 0] = 0
    left = np.maximum(left, 0)
    last = left >= n_in - 1
    frac[last] = 0
    left[last] = n_in - 1
    first = np.rint((np.float32(1) - frac) * RESIZE_ONE).astype(np.int32)
    arrays = left, first, RESIZE_ONE - first
    for a in arrays:
        a.flags.writeable = False
    return arrays[0], arrays[1:]
