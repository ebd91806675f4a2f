"""Cross-stream batching: faces of several streams' frames encoded at once give what one frame at a time gives."""

from __future__ import annotations

import numpy as np
import pytest

from edge_model.pipeline import build_pipeline, process_batch
from edge_model.settings import PipelineSettings
from stream.demo import astronaut


def frames(shift: int, n: int) -> list[np.ndarray]:
    """The portrait moving a few pixels a frame: one face track."""
    base = np.ascontiguousarray(astronaut())
    return [np.ascontiguousarray(np.roll(base, shift * i, axis=1)) for i in range(n)]


def test_a_batch_scores_every_stream_as_one_frame_at_a_time_does(tiny_model):
    streams = {"left": frames(2, 12), "right": frames(-3, 12)}
    alone = build_pipeline(PipelineSettings(), tiny_model)
    single = {name: alone.another() for name in streams}
    together = {name: alone.another() for name in streams}
    windows = 0
    for i in range(12):
        one_by_one = [single[name].process(streams[name][i], i) for name in streams]
        batched = process_batch([(together[name], streams[name][i], i, None) for name in streams])
        for a, b in zip(one_by_one, batched):
            assert [f.track_id for f in a.faces] == [f.track_id for f in b.faces] and len(a.faces) == 1
            assert [(w.track_id, w.start_frame, w.end_frame) for w in a.windows] == \
                [(w.track_id, w.start_frame, w.end_frame) for w in b.windows]
            np.testing.assert_allclose([w.p_fake for w in a.windows], [w.p_fake for w in b.windows], atol=1e-4)
            assert set(b.stage_s) == {"detect", "encode", "score"} and b.stage_s["encode"] > 0
            windows += len(b.windows)
    assert windows >= 2 * 4  # T=4, hop 2 (tiny model): several windows per stream were compared
    assert [len(together[n].windows) for n in streams] == [1, 1]  # each stream keeps its own track


def test_a_batch_needs_one_shared_runner(tiny_model):
    a = build_pipeline(PipelineSettings(), tiny_model)
    b = build_pipeline(PipelineSettings(), tiny_model)
    image = np.ascontiguousarray(astronaut())
    with pytest.raises(ValueError, match="share their runner"):
        process_batch([(a, image, 0, None), (b, image, 0, None)])
