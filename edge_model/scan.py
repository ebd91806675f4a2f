"""Score a whole video offline: every face track, every window, and a verdict.

Decoding stays with the caller (`dfd scan` uses PyAV in `stream`, training's
evaluation has its own), so the scoring here is the live pipeline's, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from edge_model.pipeline import FacePipeline, WindowScore


@dataclass
class TrackReport:
    id: int
    first_frame: int
    last_frame: int
    score: float  # mean of the track's window scores
    windows: list[dict] = field(default_factory=list)  # {"start_frame", "end_frame", "p_fake"}


@dataclass
class ScanReport:
    video: str
    verdict: Literal["fake", "real", "no-face"]
    score: float | None  # the highest track score
    threshold: float
    model: str
    frames: int
    tracks: list[TrackReport]

    def to_dict(self) -> dict:
        return asdict(self)


def scan_frames(
    frames: Iterable[tuple[int, np.ndarray]], pipeline: FacePipeline, video: str = ""
) -> ScanReport:
    """Run (frame_index, frame_bgr) pairs through the pipeline and summarize per track."""
    spans: dict[int, list[int]] = {}
    windows: list[WindowScore] = []
    n = 0
    for index, frame in frames:
        n += 1
        result = pipeline.process(frame, index)
        for face in result.faces:
            span = spans.setdefault(face.track_id, [index, index])
            span[1] = index
        windows += result.windows
    windows += pipeline.finish()

    by_track: dict[int, list[WindowScore]] = {}
    for w in windows:
        by_track.setdefault(w.track_id, []).append(w)
    tracks = [
        TrackReport(
            id=tid,
            first_frame=spans[tid][0],
            last_frame=spans[tid][1],
            score=float(np.mean([w.p_fake for w in ws])),
            windows=[{"start_frame": w.start_frame, "end_frame": w.end_frame, "p_fake": w.p_fake} for w in ws],
        )
        for tid, ws in sorted(by_track.items())
    ]
    manifest = pipeline.runner.manifest
    score = max((t.score for t in tracks), default=None)
    if score is None:
        verdict = "no-face"
    else:
        verdict = "fake" if score >= manifest.threshold else "real"
    return ScanReport(video, verdict, score, manifest.threshold, manifest.model_id, n, tracks)
