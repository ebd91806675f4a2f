"""Against a naive baseline: the same job done the way a typical script does it.

The baseline reads frames with cv2.VideoCapture and, on every frame and in
one process, detects faces, crops them and runs the project's PyTorch model
(encoder and temporal head) in fp32. It uses the same face detector and crop
as we do, and one thread as we do (PyTorch's default of every core made it
erratic, 2-30 fps, on a shared machine), so the gap is the run time's doing:
ONNX Runtime (the model's run-time encoder, int8 or fp32) and PyAV against fp32 PyTorch and cv2.VideoCapture.

"Ours" is the pipeline `dfd scan` runs (edge_model.media's PyAV reader,
build_pipeline with the default config) over the same clip in the same run.

Both run with every thread of the process pinned to one core: the figures
are frames per second on one core (the capacity section's efficiency divides
by ours / 30), and FFmpeg's decoder threads, in both readers, would otherwise
decode on the other cores.

The PyTorch model is the one in `training.model`, imported here and only
here, lazily: it needs the `train` extra, and without it this section is
skipped. Rebuilding the network in `bench` would be a second copy of it.
Its weights don't matter for speed, so it is built without pre-trained weights.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2

from bench.capacity import FPS, stream_clip
from bench.context import Context, Skip
from bench.measure import Figure
from edge_model.crop import crop_face
from edge_model.detector import FaceDetector
from edge_model.manifest import load_manifest
from edge_model.media import read_frames
from edge_model.pipeline import build_pipeline
from edge_model.runner import ModelRunner
from stream.config import load_config


def steps(ctx: Context) -> int:
    return 2 * ctx.plan.runs


def _torch_model(folder: Path):
    """The project's PyTorch encoder and temporal head, shaped like the model folder's."""
    try:
        import torch

        from training.config import ModelConfig
        from training.model import Encoder, TemporalHead
    except ImportError as exc:
        raise Skip(f"needs the train extra (pip install 'dfd[train]'): {exc}") from None
    manifest = ModelRunner(folder, threads=1).manifest
    cfg = ModelConfig(embed_dim=0 if manifest.feature_dim == 1280 else manifest.feature_dim,
                      rnn=manifest.rnn, pretrained=False)
    encoder = Encoder(cfg).eval()
    return torch, encoder, TemporalHead(encoder.dim, cfg).eval(), manifest


def baseline_fps(path: Path, folder: Path, max_frames: int) -> float:
    torch, encoder, temporal, manifest = _torch_model(folder)
    torch.set_num_threads(1)
    spec = manifest.crop
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    detector = FaceDetector()
    windows: dict[int, deque] = {}
    cap = cv2.VideoCapture(str(path))
    n = 0
    with torch.inference_mode():
        encoder(torch.zeros(1, 3, spec.size, spec.size))  # warm-up, outside the timing
        t0 = time.perf_counter()
        while n < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
            for i, face in enumerate(detector.detect(frame)):
                crop = crop_face(frame, face.box, face.keypoints, spec)
                x = (torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255.0 - mean) / std
                window = windows.setdefault(i, deque(maxlen=manifest.window))
                window.append(encoder(x)[0])
                if len(window) == manifest.window:
                    torch.sigmoid(temporal(torch.stack(list(window))[None]))
    cap.release()
    return n / (time.perf_counter() - t0)


def ours_fps(path: Path, folder: Path, max_frames: int) -> float:
    pipeline = build_pipeline(load_config(None).pipeline(), folder)
    n = 0
    t0 = time.perf_counter()
    for index, frame in read_frames(path, max_frames=max_frames):
        pipeline.process(frame, index, index / FPS)
        n += 1
    pipeline.finish()
    return n / (time.perf_counter() - t0)


@contextmanager
def one_core() -> Iterator[None]:
    """Every thread of this process, and every thread it starts, on one core until the block ends."""
    cores = os.sched_getaffinity(0)

    def pin(cpus: set[int]) -> None:
        for task in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(task), cpus)
            except OSError:  # the thread ended meanwhile
                pass

    pin({min(cores)})
    try:
        yield
    finally:
        pin(cores)


def run(ctx: Context) -> dict:
    if not ctx.models:
        raise Skip("no model to compare: pass --model DIR (no default model is installed)")
    folder = ctx.models[0]
    _torch_model(folder)  # skip before making clips when torch is missing
    path = stream_clip(ctx)
    frames = 90 if ctx.plan.quick else 300
    base, ours = [], []
    for i in range(ctx.plan.runs):
        with one_core():
            ctx.step(f"baseline: naive script, run {i + 1}")
            base.append(baseline_fps(path, folder, frames))
            ctx.step(f"baseline: our pipeline, run {i + 1}")
            ours.append(ours_fps(path, folder, frames))
    return {
        "clip": path.name, "frames": frames, "model": str(folder),
        "baseline": {"how": "cv2.VideoCapture + PyTorch fp32 model, every frame, one process, 1 thread, one core",
                     "fps": Figure.of(base, "fps").to_dict()},
        "ours": {"how": f"PyAV + FacePipeline, {load_manifest(folder).encoder_precision} ONNX Runtime, 1 thread, default config, one core",
                 "fps": Figure.of(ours, "fps").to_dict()},
        "speedup": Figure.of([o / b for o, b in zip(ours, base)], "x").to_dict(),
    }
