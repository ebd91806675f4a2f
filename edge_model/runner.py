"""ONNX Runtime sessions for a verified model folder, and the per-track windows they score.

The encoder sees each face once; windows slide over cached embeddings, so a
track costs one encoder pass per frame and one temporal pass per hop.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_model.crop import normalize
from edge_model.manifest import (
    ENCODER_INPUT,
    TEMPORAL_INPUT,
    Manifest,
    ModelError,
    load_manifest,
    resolve_model_dir,
)


def make_session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session with a fixed thread count: workers are processes, not threads."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelError(f"cannot load {path}: {str(exc).splitlines()[0]}") from None


class ModelRunner:
    """The encoder and the temporal head of one model folder."""

    def __init__(self, model_dir: str | Path | None = None, threads: int = 1, precision: str = "int8") -> None:
        self.folder = resolve_model_dir(model_dir)
        self.manifest: Manifest = load_manifest(self.folder)
        self.precision = precision
        self.encoder = make_session(self.folder / self.manifest.precision_file(precision), threads)
        self.temporal = make_session(self.folder / self.manifest.temporal, threads)

    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    def encode(self, crops_rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB crops (N, S, S, 3) -> embeddings (N, D), all faces of a frame in one batch."""
        if len(crops_rgb) == 0:
            return np.zeros((0, self.manifest.feature_dim), np.float32)
        x = normalize(crops_rgb, self.manifest.crop)
        return self.encoder.run(None, {ENCODER_INPUT: x})[0]

    def score(self, windows: np.ndarray) -> np.ndarray:
        """Embedding windows (B, T, D) -> p(fake) (B,)."""
        out = self.temporal.run(None, {TEMPORAL_INPUT: windows.astype(np.float32, copy=False)})[0]
        return out.reshape(-1)


MAX_STRIDE = 8  # faces a window may skip between two of its own: a 10-fps model on an 80-fps source


@dataclass
class _TrackWindow:
    embeddings: deque
    frames: deque
    times: deque
    stride: int = 1  # faces between two of a window's, from the track's frame rate and the model's
    since_last: int = 0
    scored: int = 0
    seen: int = 0  # faces of the track so far: the decision rule's evidence
    face_score_sum: float = 0.0

    def members(self) -> list[int]:
        """Positions of the newest window's faces in the buffers, oldest first: every stride-th from the newest."""
        return list(range(len(self.embeddings) - 1, -1, -self.stride))[::-1]


@dataclass
class TrackWindows:
    """Per-track state: the track's last faces and when the next window is due.

    A window holds T faces at the frame rate the model was trained at (`fps`,
    from model.json): on a 30-fps stream a 10-fps model's window takes every
    third face, so it spans the time it spanned in training. Windows still come
    every `hop` faces, so every face is in a window and the windows interleave.
    Without `fps` (older models) or frame times, a window is T consecutive faces.
    A new track starts empty; `drop` frees an ended track's state.
    """

    window: int
    hop: int
    fps: float | None = None
    _tracks: dict[int, _TrackWindow] = field(default_factory=dict)

    def push(
        self, track_id: int, embedding: np.ndarray, frame_index: int, face_score: float, ts: float | None = None
    ) -> bool:
        """Add one face (its embedding, detector score and frame time in seconds); True when a full window is
        due for scoring."""
        t = self._tracks.get(track_id)
        if t is None:
            n = (self.window - 1) * MAX_STRIDE + 1
            t = self._tracks[track_id] = _TrackWindow(deque(maxlen=n), deque(maxlen=n), deque(maxlen=n))
        t.embeddings.append(embedding)
        t.frames.append(frame_index)
        t.times.append(ts)
        t.since_last += 1
        t.seen += 1
        t.face_score_sum += face_score
        if t.scored == 0:  # the stride holds from the track's first window on: its windows are alike
            t.stride = self._stride(t.times)
        if len(t.embeddings) > (self.window - 1) * t.stride and (t.scored == 0 or t.since_last >= self.hop):
            t.since_last = 0
            t.scored += 1
            return True
        return False

    def _stride(self, times: deque) -> int:
        """The model's frame interval over the track's median one, to the nearest whole face."""
        if self.fps is None or len(times) < 2 or None in times:
            return 1
        gap = float(np.median(np.diff(np.asarray(times, np.float64))))
        return 1 if gap <= 0 else int(min(MAX_STRIDE, max(1, round(1.0 / (self.fps * gap)))))

    def window_of(self, track_id: int) -> tuple[np.ndarray, int, int]:
        """(T, D) window, and its first and last frame index."""
        t = self._tracks[track_id]
        idx = t.members()[-self.window:]
        return np.stack([t.embeddings[i] for i in idx]), t.frames[idx[0]], t.frames[idx[-1]]

    def partial(self, track_id: int, min_len: int) -> tuple[np.ndarray, int, int] | None:
        """A short track that never filled a window: its faces at the window's stride, padded by repetition, or None."""
        t = self._tracks.get(track_id)
        if t is None or t.scored:
            return None
        idx = t.members()
        if len(idx) < min_len:
            return None
        emb = np.stack([t.embeddings[i] for i in idx])
        return emb[np.sort(np.resize(np.arange(len(emb)), self.window))], t.frames[idx[0]], t.frames[idx[-1]]

    def evidence(self, track_id: int) -> tuple[int, float]:
        """The track's faces so far and their mean detector score: what the decision rule gates on."""
        t = self._tracks[track_id]
        return t.seen, t.face_score_sum / t.seen

    def drop(self, track_id: int) -> None:
        self._tracks.pop(track_id, None)

    def __len__(self) -> int:
        return len(self._tracks)
