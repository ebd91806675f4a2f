"""A model is a folder: encoder.onnx, temporal.onnx and model.json.

The manifest carries the pre-processing (the crop spec), the window, the
threshold, what trained the model and how well it did, and the sha256 of
every file. Nothing is loaded before every hash matches.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_model.crop_spec import CropSpec
from edge_model.errors import DfdError

MANIFEST = "model.json"
FORMAT = 1
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "default"

# The ONNX interface every model folder honours.
ENCODER_INPUT = "image"  # float32 (N, 3, S, S), normalized by the crop contract
ENCODER_OUTPUT = "embedding"  # float32 (N, D)
TEMPORAL_INPUT = "embeddings"  # float32 (B, T, D)
TEMPORAL_OUTPUT = "p_fake"  # float32 (B,), already a probability


class ModelError(DfdError):
    """A model folder that can't be used: missing, malformed or tampered with."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Manifest:
    model_id: str
    crop: CropSpec
    window: int  # T embeddings per temporal window
    hop: int  # frames between two windows of one track
    feature_dim: int
    threshold: float  # calibrated p(fake) above which a window counts as fake
    rnn: str = "gru"
    fps: float | None = None  # frame rate of a window's faces in training; None: consecutive faces, whatever the rate
    encoder: str = "encoder.onnx"  # the run-time encoder: int8, unless encoder_precision says fp32
    encoder_fp32: str | None = None  # optional, for benchmarks and --precision fp32
    encoder_precision: str = "int8"  # fp32 where the int8 encoder failed the export's parity bound
    temporal: str = "temporal.onnx"
    files: dict[str, str] = field(default_factory=dict)  # name -> sha256
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> str:
        d = asdict(self)
        d["crop"] = self.crop.to_dict()
        return json.dumps(d, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        try:
            d = dict(d)
            d["crop"] = CropSpec.from_dict(d["crop"])
            if int(d.get("format", FORMAT)) != FORMAT:
                raise ModelError(f"model.json: format {d['format']} is not supported (want {FORMAT})")
            m = cls(**d)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model.json: malformed manifest ({exc})") from None
        if m.window < 1 or m.hop < 1 or not 0.0 < m.threshold < 1.0:
            raise ModelError("model.json: window and hop must be >= 1 and threshold in (0, 1)")
        if m.fps is not None and not (type(m.fps) in (int, float) and m.fps > 0):  # type(): JSON's true is no rate
            raise ModelError(f"model.json: fps must be a positive number or null, not {m.fps!r}")
        if m.encoder_precision not in ("int8", "fp32"):
            raise ModelError(f"model.json: encoder_precision must be int8 or fp32, not {m.encoder_precision!r}")
        return m

    @property
    def encoders(self) -> dict[str, str]:
        """The encoder files this folder holds, by precision."""
        return {self.encoder_precision: self.encoder} | ({"fp32": self.encoder_fp32} if self.encoder_fp32 else {})

    def precision_file(self, precision: str) -> str:
        """The encoder file for a precision; a model without an int8 encoder runs its fp32 one for both."""
        if precision == "int8":
            return self.encoder
        if precision not in self.encoders:
            raise ModelError(f"model {self.model_id} has no fp32 encoder")
        return self.encoders[precision]


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Hash every model file named by the manifest and write model.json."""
    names = list(dict.fromkeys([*manifest.encoders.values(), manifest.temporal]))
    manifest.files = {name: sha256_file(folder / name) for name in names}
    path = folder / MANIFEST
    path.write_text(manifest.to_json(), encoding="utf-8")
    return path


def load_manifest(folder: str | Path, verify: bool = True) -> Manifest:
    """Read model.json and check every file's sha256; a mismatch is refused."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ModelError(f"model folder not found: {folder}")
    if not path.is_file():
        raise ModelError(f"model folder {folder} has no {MANIFEST}")
    try:
        manifest = Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON ({exc.msg})") from None
    if verify:
        for name in filter(None, [manifest.encoder, manifest.temporal, manifest.encoder_fp32]):
            if name not in manifest.files:
                raise ModelError(f"{path}: no sha256 recorded for {name}")
        for name, digest in manifest.files.items():
            f = folder / name
            if not f.is_file():
                raise ModelError(f"model file missing: {f}")
            if sha256_file(f) != digest:
                raise ModelError(f"model file {f} does not match its sha256 in {MANIFEST}: refusing to load it")
    return manifest


def resolve_model_dir(path: str | Path | None) -> Path:
    """The folder named in the config, or the packaged default model."""
    folder = Path(path) if path else DEFAULT_MODEL_DIR
    if not (folder / MANIFEST).is_file():
        if not path:
            raise ModelError(
                f"no default model is installed at {DEFAULT_MODEL_DIR}; pass --model DIR "
                "(train one with `dfd train` and `dfd export`)"
            )
        raise ModelError(f"model folder {folder} has no {MANIFEST}")
    return folder
