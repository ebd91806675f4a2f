"""The prepared dataset on disk: face clips per video and track, and their index.

    DATASET/dataset.json      crop spec and how the data was sampled
    DATASET/index.jsonl       one line per clip (a face track of one video)
    DATASET/videos.jsonl      one line per finished video (what makes a run resumable)
    DATASET/skipped.jsonl     the videos the last run could not read
    DATASET/clips/<clip>.npy  uint8 RGB faces (N, S, S, 3), memory-mapped when read
    DATASET/clips/<clip>.npz  frames (N,), keypoints (N, 6, 2) and, when the face
                              mesh was available, mesh (N, 468, 2), in crop pixels

Faces are stored at the crop size given to `dfd preprocess` (160 by default);
training resizes them when it trains at a smaller size, which keeps the
crop's framing (the margin) identical.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_model.crop import CropSpec
from edge_model.errors import DfdError

FORMAT = 1


class DatasetError(DfdError):
    """A dataset folder that is missing or malformed."""


@dataclass
class ClipRecord:
    clip: str
    video_id: str
    group: str
    label: int
    method: str
    source: str
    track: int
    n_frames: int
    first_frame: int
    last_frame: int
    has_mesh: bool
    pair: bool = False  # one crop of a real/fake pair from the same frame (a pairs CSV)

    @classmethod
    def from_dict(cls, d: dict) -> ClipRecord:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class Clip:
    faces: np.ndarray  # uint8 (N, S, S, 3), possibly a memory map
    frames: np.ndarray  # int (N,)
    keypoints: np.ndarray  # float32 (N, 6, 2) in crop pixels
    mesh: np.ndarray | None  # float32 (N, 468, 2) in crop pixels


class Dataset:
    """Read and append to a dataset folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.clips_dir = self.root / "clips"

    # --- creation and metadata
    def create(self, spec: CropSpec, info: dict) -> None:
        """Start a dataset, or check that an existing one was made with the same crop."""
        meta = self.root / "dataset.json"
        if meta.exists():
            old = self.meta()
            if CropSpec.from_dict(old["crop"]) != spec:
                raise DatasetError(f"{self.root} was prepared with another crop spec; use a new --out folder")
            return
        self.clips_dir.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps({"format": FORMAT, "crop": spec.to_dict(), **info}, indent=2) + "\n")

    def meta(self) -> dict:
        path = self.root / "dataset.json"
        if not path.is_file():
            raise DatasetError(f"{self.root} is not a prepared dataset (no dataset.json); run `dfd preprocess`")
        return json.loads(path.read_text(encoding="utf-8"))

    @property
    def spec(self) -> CropSpec:
        return CropSpec.from_dict(self.meta()["crop"])

    # --- writing (one writer: the main process)
    def write_clip(self, record: ClipRecord, clip: Clip) -> None:
        np.save(self.clips_dir / f"{record.clip}.npy", np.ascontiguousarray(clip.faces))
        extra = {} if clip.mesh is None else {"mesh": clip.mesh.astype(np.float32)}
        np.savez(self.clips_dir / f"{record.clip}.npz", frames=clip.frames, keypoints=clip.keypoints, **extra)

    def finish_video(self, video: dict, records: list[ClipRecord]) -> None:
        """Index a video's clips, then mark it done: a crash in between only redoes this video."""
        with open(self.root / "index.jsonl", "a", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(asdict(r)) + "\n")
        with open(self.root / "videos.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(video) + "\n")

    def write_skipped(self, skipped: list[dict]) -> None:
        with open(self.root / "skipped.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(s) + "\n" for s in skipped)

    # --- reading
    def _jsonl(self, name: str) -> list[dict]:
        path = self.root / name
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def done_videos(self) -> set[str]:
        return {v["video_id"] for v in self._jsonl("videos.jsonl")}

    def videos(self) -> list[dict]:
        return self._jsonl("videos.jsonl")

    def records(self) -> list[ClipRecord]:
        """The indexed clips; a video indexed twice (a crash before it was marked done) counts once."""
        done = self.done_videos()
        seen: dict[str, ClipRecord] = {}
        for d in self._jsonl("index.jsonl"):
            r = ClipRecord.from_dict(d)
            if r.video_id in done:
                seen[r.clip] = r
        if not seen:
            self.meta()
            raise DatasetError(f"{self.root} holds no face clips")
        return list(seen.values())

    def load(self, clip: str) -> Clip:
        faces = np.load(self.clips_dir / f"{clip}.npy", mmap_mode="r")
        with np.load(self.clips_dir / f"{clip}.npz") as z:
            mesh = z["mesh"] if "mesh" in z.files else None
            return Clip(faces, z["frames"], z["keypoints"], mesh)
