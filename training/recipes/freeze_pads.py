"""Fold the SAME padding of an exported model folder's encoders into their convolutions, in place.

`dfd export` does this itself now (training.onnx_export.export_encoder); the
packaged default model was exported before, and this brought it level:

    python training/recipes/freeze_pads.py edge_model/models/default

The outputs must not move: every encoder is run on the same random crops
before and after, and the folder is left as it was unless they match (fp32
within 1e-5; int8 within 1e-3, since a float sum of the stem that rounds
the other way can flip one int8 step). On the default model: int8 equal
on these crops, fp32 within 1e-6, and `dfd scan` of 47 videos (dev fake
clips, real_faces) moved no verdict and no track score by more than 0.0006.
model.json's hashes are rewritten; the model id, threshold and metrics stay.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_model.manifest import ENCODER_INPUT, load_manifest, write_manifest
from training.onnx_export import freeze_pads

TOLERANCE = {"int8": 1e-3, "fp32": 1e-5}


def features(path: Path, crops: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {ENCODER_INPUT: crops})[0]


def main(folder: Path) -> None:
    manifest = load_manifest(folder)
    size = manifest.crop.size
    crops = np.random.default_rng(0).normal(0, 0.5, (8, 3, size, size)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for precision, name in manifest.encoders.items():
            staged = Path(tmp) / name
            shutil.copy2(folder / name, staged)
            folded = freeze_pads(staged, size)
            moved = float(np.abs(features(folder / name, crops) - features(staged, crops)).max())
            print(f"{name}: {folded} Pads folded, outputs moved by at most {moved:.2e}")
            if moved > TOLERANCE[precision]:
                sys.exit(f"{name}: outputs moved by {moved:.2e}: the folder is left as it was")
        for name in manifest.encoders.values():
            shutil.copy2(Path(tmp) / name, folder / name)
    write_manifest(folder, manifest)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
