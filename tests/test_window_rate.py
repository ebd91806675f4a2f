"""A live worker hands each frame's capture time to the pipeline, so a window keeps the model's frame rate."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np

import stream.worker
from stream.config import load_config
from stream.demo import astronaut
from stream.frames import Frame
from stream.transport import ipc_endpoints
from stream.wire import FrameReady
from stream.worker import Worker
from stream.worker_spec import WorkerSpec


def test_a_30_fps_stream_gets_windows_of_every_third_face_from_a_10_fps_model(tiny_model, tmp_path, ctx, monkeypatch):
    model = shutil.copytree(tiny_model, tmp_path / "model")
    manifest = json.loads((model / "model.json").read_text())
    (model / "model.json").write_text(json.dumps({**manifest, "fps": 10.0}))  # fps is not hashed: not a model file
    cfg = load_config(None, {"model.path": str(model), "alerts.evidence_dir": str(tmp_path / "evidence")})
    ep = ipc_endpoints(tmp_path, ["cam"])
    worker = Worker(WorkerSpec("w0", ep.frames, ep.events, cfg, supervised=False), ctx, None)
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
