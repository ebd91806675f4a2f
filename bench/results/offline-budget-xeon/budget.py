"""Where a frame of the offline pipeline goes, on one core, against the 5x line of issue 17.

Run from the repository root, nothing else running:
    python bench/results/offline-budget-xeon/budget.py OUT.json

Times the same clip and pipeline as `dfd bench`'s baseline section (bench.baseline: one core, 1 thread,
the default config, the packaged model), stage by stage, and the encoder quantized three ways from the
packaged fp32 weights (the shipped int8 file; all 49 convolutions int8; fp32). The all-int8 copy is
calibrated on random input: it is timed here, never scored.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.baseline import baseline_fps, one_core, ours_fps
from bench.capacity import FPS
from bench.clips import ClipSpec, clip
from edge_model.crop import crop_face
from edge_model.manifest import ENCODER_INPUT, resolve_model_dir
from edge_model.media import read_frames
from edge_model.pipeline import build_pipeline
from edge_model.runner import make_session
from stream.config import load_config
from training.onnx_export import quantize_encoder

RUNS = 5
FRAMES = 300


def per_call_ms(fn, n: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e3


def median_of(fn, n: int) -> float:
    return statistics.median(per_call_ms(fn, n) for _ in range(RUNS))


def all_int8(fp32: Path, out: Path) -> Path:
    """The exporter's own quantization with no float part (the LayerNorm aside), calibrated on random input."""
    rng = np.random.default_rng(0)
    target = out / "all_int8.onnx"
    quantize_encoder(fp32, target, [rng.uniform(-1, 1, (8, 3, 128, 128)).astype(np.float32) for _ in range(4)])
    return target


def main(out_file: Path) -> None:
    folder = resolve_model_dir(None)
    work = Path(tempfile.mkdtemp(prefix="budget-"))
    path = clip(work, ClipSpec(640, 480, seconds=10.0, fps=FPS))
    encoders = {"shipped int8 (6 float convolutions)": folder / "encoder.onnx",
                "all int8": all_int8(folder / "encoder_fp32.onnx", work),
                "fp32": folder / "encoder_fp32.onnx"}
    r: dict = {}
    with one_core():
        r["naive_fps"] = statistics.median(baseline_fps(path, folder, FRAMES) for _ in range(RUNS))
        r["ours_fps"] = statistics.median(ours_fps(path, folder, FRAMES) for _ in range(RUNS))
        frames = [f for _, f in read_frames(path, max_frames=FRAMES)]
        r["decode_ms"] = median_of(lambda: sum(1 for _ in read_frames(path, max_frames=FRAMES)), 1) / FRAMES
        pipeline = build_pipeline(load_config(None).pipeline(), folder)
        every = pipeline.finder.settings.every
        detector = pipeline.finder.detector
        face = detector.detect_all(frames[0])[0]
        r["detect_ms_a_run"] = median_of(lambda: detector.detect_all(frames[0]), 100)
        r["detector_every"] = every
        spec = pipeline.runner.manifest.crop
        crop = crop_face(frames[0], face.box, face.keypoints, spec)
        r["crop_ms"] = median_of(lambda: crop_face(frames[0], face.box, face.keypoints, spec), 300)
        r["encode_ms"] = median_of(lambda: pipeline.runner.encode(crop[None]), 300)
        x = np.zeros((1, 3, spec.size, spec.size), np.float32)
        sessions = {k: make_session(p, 1) for k, p in encoders.items()}
        r["encoder_ms"] = {k: median_of(lambda s=s: s.run(None, {ENCODER_INPUT: x}), 300) for k, s in sessions.items()}

        def pipeline_pass() -> None:
            p = pipeline.another()
            for i, f in enumerate(frames):
                p.process(f, i, i / FPS)
            p.finish()

        r["pipeline_ms_a_frame_decoded"] = median_of(pipeline_pass, 1) / FRAMES
    r["frame_ms"] = 1e3 / r["ours_fps"]
    r["ratio"] = r["ours_fps"] / r["naive_fps"]
    r["frame_ms_for_5x"] = 1e3 / (5 * r["naive_fps"])
    r["rest_ms"] = (r["pipeline_ms_a_frame_decoded"] - r["detect_ms_a_run"] / every - r["crop_ms"] - r["encode_ms"])
    out_file.write_text(json.dumps(r, indent=2) + "\n")
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
