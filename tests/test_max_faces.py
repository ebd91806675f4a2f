"""Faces beyond detector.max_faces: counted by the pipeline, said once per stream by the worker."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from edge_model.manifest import load_manifest
from edge_model.pipeline import build_pipeline
from edge_model.settings import PipelineSettings
from stream.config import load_config
from stream.demo import astronaut
from stream.frames import Frame
from stream.transport import ipc_endpoints
from stream.wire import FrameReady
from stream.worker import Worker
from stream.worker_spec import WorkerSettings, WorkerSpec


@pytest.fixture(scope="module")
def crowd() -> np.ndarray:
    """The portrait four times, 2 x 2: four faces on one frame."""
    row = np.concatenate([astronaut()] * 2, axis=1)
    return np.ascontiguousarray(np.concatenate([row, row], axis=0))


def test_the_pipeline_counts_the_faces_it_leaves_out(crowd, tiny_model):
    pipeline = build_pipeline(PipelineSettings(max_faces=1), tiny_model)
    result = pipeline.process(crowd, 0)
    assert len(result.faces) == 1 and result.left_out >= 1
    roomy = build_pipeline(PipelineSettings(max_faces=8), tiny_model).process(crowd, 0)
    assert roomy.left_out == 0 and len(roomy.faces) == len(result.faces) + result.left_out


def test_the_worker_says_once_per_stream_that_faces_were_left_out(crowd, tiny_model, tmp_path, ctx, caplog):
    cfg = load_config(None, {"model.path": str(tiny_model), "detector.max_faces": 1,
                             "alerts.evidence_dir": str(tmp_path / "evidence")})
    ep = ipc_endpoints(tmp_path, ["crowd", "solo"])
    settings = WorkerSettings.of(cfg, load_manifest(tiny_model).threshold)
    worker = Worker(WorkerSpec("w0", ep.frames, ep.events, settings, supervised=False), ctx, None)
    one_face = np.ascontiguousarray(astronaut())
    try:
        with caplog.at_level(logging.WARNING):
            for seq in range(3):
                for stream, image in (("crowd", crowd), ("solo", one_face)):
                    h, w = image.shape[:2]
                    worker.process([Frame(FrameReady(stream, 0, seq, time.time(), w, h), image)])
    finally:
        worker.close()
    lines = [r.getMessage() for r in caplog.records if "max_faces" in r.getMessage()]
    assert len(lines) == 1, lines  # the first crowded frame of the stream, not every one
    assert lines[0].startswith("crowd: ") and "detector.max_faces = 1" in lines[0]
