"""`dfd watch`'s worker and `dfd scan` hand each frame's time to the pipeline, so a window keeps the model's frame rate."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

import stream.worker
from edge_model.decision import DecisionLevels
from edge_model.manifest import load_manifest
from edge_model.pipeline import build_pipeline
from edge_model.scan import scan_frames
from edge_model.settings import PipelineSettings
from stream.config import load_config
from stream.demo import astronaut
from stream.frames import Frame
from stream.transport import ipc_endpoints
from stream.wire import FrameReady
from stream.worker import Worker
from stream.worker_spec import WorkerSettings, WorkerSpec


@pytest.fixture
def ten_fps_model(tiny_model, tmp_path):
    model = shutil.copytree(tiny_model, tmp_path / "model")
    manifest = json.loads((model / "model.json").read_text())
    (model / "model.json").write_text(json.dumps({**manifest, "fps": 10.0}))  # fps is not hashed: not a model file
    return model


def test_a_30_fps_scan_gets_windows_of_every_third_face(ten_fps_model):
    face = np.ascontiguousarray(astronaut())
    report = scan_frames(((i, face) for i in range(12)), build_pipeline(PipelineSettings(), ten_fps_model),
                         DecisionLevels(on=0.5), fps=30.0)
    assert [(w["start_frame"], w["end_frame"]) for t in report.tracks for w in t.windows] == [(0, 9), (2, 11)]


def test_a_30_fps_stream_gets_windows_of_every_third_face_from_a_10_fps_model(ten_fps_model, tmp_path, ctx, monkeypatch):
    model = ten_fps_model
    cfg = load_config(None, {"model.path": str(model), "alerts.evidence_dir": str(tmp_path / "evidence")})
    ep = ipc_endpoints(tmp_path, ["cam"])
    settings = WorkerSettings.of(cfg, load_manifest(model).threshold)
    worker = Worker(WorkerSpec("w0", ep.frames, ep.events, settings, supervised=False), ctx, None)
    results = []
    batch = stream.worker.process_batch

    def spy(items):
        out = batch(items)
        results.extend(out)
        return out

    monkeypatch.setattr(stream.worker, "process_batch", spy)
    face = np.ascontiguousarray(astronaut())
    h, w = face.shape[:2]
    t0 = time.time()
    try:
        for seq in range(12):
            worker.process([Frame(FrameReady("cam", 0, seq, t0 + seq / 30, w, h), face)])
    finally:
        worker.close()
    windows = [(win.start_frame, win.end_frame) for r in results for win in r.windows]
    assert windows == [(0, 9), (2, 11)]  # T = 4 faces 0.1 s apart (frames 0, 3, 6, 9), due every hop = 2 faces
