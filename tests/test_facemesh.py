"""The 468-point face mesh and its hull mask, on the astronaut portrait and a real clip frame."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from edge_model.blend import hull_mask
from edge_model.crop import LEFT_EYE, MOUTH, NOSE, RIGHT_EYE
from edge_model.detector import FaceDetector
from edge_model.facemesh import FaceMesh
from stream.demo import astronaut as portrait
from tests.conftest import shared_data

# MediaPipe mesh indices: nose tip, corners of the subject's right and left eyes, inner lips.
MESH_NOSE = [1]
MESH_RIGHT_EYE = [33, 133]
MESH_LEFT_EYE = [263, 362]
MESH_MOUTH = [13, 14]


@pytest.fixture(scope="module")
def models():
    return FaceDetector("short"), FaceMesh()


def astronaut(angle: float = 0.0) -> np.ndarray:
    img = portrait()
    return cv2.warpAffine(img, cv2.getRotationMatrix2D((256, 256), angle, 1.0), (512, 512))


@pytest.mark.parametrize("angle", [0.0, 30.0, -25.0])
def test_mesh_agrees_with_detector_keypoints(models, angle):
    """The mesh is mapped back from a rotated crop: its nose, eyes and mouth must land on
    the detector's keypoints whatever the head's roll."""
    detector, mesh = models
    frame = astronaut(angle)
    (face,) = detector.detect(frame)
    lm = mesh.landmarks(frame, face.box, face.keypoints)
    assert lm.shape == (468, 3) and lm.dtype == np.float32
    kp = face.keypoints
    for idx, k in [
        (MESH_NOSE, NOSE),
        (MESH_RIGHT_EYE, RIGHT_EYE),
        (MESH_LEFT_EYE, LEFT_EYE),
        (MESH_MOUTH, MOUTH),
    ]:
        assert np.linalg.norm(lm[idx, :2].mean(axis=0) - kp[k]) < 10, (angle, idx)
    assert np.ptp(lm[:, 2]) < 2 * np.ptp(lm[:, 0])  # depth is in frame pixels, like x and y


def test_hull_mask_covers_the_face_not_the_corners(models):
    detector, mesh = models
    frame = astronaut()
    (face,) = detector.detect(frame)
    mask = hull_mask(mesh.landmarks(frame, face.box, face.keypoints)[:, :2], frame.shape[:2])
    assert mask.shape == (512, 512)
    assert set(np.unique(mask)) == {0, 1}
    for k in (NOSE, RIGHT_EYE, LEFT_EYE, MOUTH):
        x, y = face.keypoints[k].round().astype(int)
        assert mask[y, x] == 1
    for y, x in [(0, 0), (0, 511), (511, 0), (511, 511)]:
        assert mask[y, x] == 0
    box_area = float(np.prod(face.box[2:] - face.box[:2]))
    assert 0.5 < np.count_nonzero(mask) / box_area < 1.5
    x1, y1, x2, y2 = face.box
    ys, xs = np.nonzero(mask)
    margin = 0.25 * (x2 - x1)
    assert xs.min() > x1 - margin and xs.max() < x2 + margin
    assert ys.min() > y1 - margin and ys.max() < y2 + margin


@pytest.mark.shared_data
def test_mesh_on_a_real_clip_frame(models):
    """Needs real faces: the mesh of a real talking head covers its eyes and mouth."""
    detector, mesh = models
    with av.open(
        str(shared_data("real_faces", "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"))
    ) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="bgr24")
    (face,) = detector.detect(frame)
    lm = mesh.landmarks(frame, face.box, face.keypoints)
    mask = hull_mask(lm[:, :2], frame.shape[:2])
    for x, y in [(193, 243), (316, 243), (250, 380)]:  # eyes and mouth, labelled by hand
        assert mask[y, x] == 1
    assert mask[:60].max() == 0 and mask[:, :60].max() == 0  # hair and flag
