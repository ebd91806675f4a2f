"""Score a whole video offline with the live decision rule: per track alert periods, and a verdict.

Decoding stays with the caller (`dfd scan` and training's evaluation read
files with `edge_model.media`), so the scoring here is the live pipeline's, unchanged,
and so is the decision: each window goes through `edge_model.decision`'s rule
at frame index / frame rate seconds, as the live worker feeds it capture
timestamps. Hence:

- verdict `fake` exactly when the rule raised an alert on some track (which
  is when `dfd watch` would have alerted on the file);
- `real` when at least one track decides (its evidence spans the rule's
  minimum duration) and none alerted;
- `insufficient` otherwise: no face, or only short or low-detector-score tracks.

The video score is the highest sustained score of a deciding track: the
highest mean window score the track held over `min_duration_s`
(`edge_model.decision.sustained_score`). It needs several windows' worth of
evidence, so a short fragment cannot set it; None when no track decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from edge_model.decision import AlertChange, DecisionLevels, DecisionRule, sustained_score
from edge_model.pipeline import FacePipeline, WindowScore


@dataclass
class AlertPeriod:
    """One alert the rule raised on a track: from the candidate's start to its end."""

    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    peak: float
    mean: float


@dataclass
class TrackReport:
    id: int
    first_frame: int
    last_frame: int
    frames: int  # faces seen
    face_score: float  # their mean detector score
    decides: bool  # its evidence spans the rule's min_duration_s: it could have raised an alert
    score: float | None  # its sustained score; None unless it decides
    mean: float  # mean of all its window scores, evidence or not
    alerts: list[AlertPeriod] = field(default_factory=list)
    windows: list[dict] = field(default_factory=list)  # {"start_frame", "end_frame", "p_fake", "evidence"}


@dataclass
class ScanReport:
    video: str
    verdict: Literal["fake", "real", "insufficient"]
    score: float | None  # highest sustained score of a deciding track
    threshold: float  # the rule's on-level
    model: str
    frames: int
    fps: float
    tracks: list[TrackReport]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Track:
    first_frame: int
    last_frame: int
    frames: int = 0
    face_score_sum: float = 0.0
    windows: list[tuple[WindowScore, float]] = field(default_factory=list)  # (window, time fed to the rule)
    alerts: list[AlertPeriod] = field(default_factory=list)


def scan_frames(
    frames: Iterable[tuple[int, np.ndarray]],
    pipeline: FacePipeline,
    levels: DecisionLevels,
    fps: float,
    video: str = "",
) -> ScanReport:
    """Run (frame_index, frame_bgr) pairs through the pipeline and the decision rule, per track."""
    rule = DecisionRule(levels)
    tracks: dict[int, _Track] = {}

    def record(change: AlertChange | None) -> None:
        if change is not None and change.kind == "end":
            tracks[change.track].alerts.append(
                AlertPeriod(round(change.started_at * fps), round(change.ts * fps), change.started_at, change.ts,
                            change.peak, change.mean)
            )

    def feed(windows: list[WindowScore], ts: float) -> None:
        for w in windows:
            tracks[w.track_id].windows.append((w, ts))
            record(rule.observe(w, ts))

    n, ts = 0, 0.0
    for index, frame in frames:
        n += 1
        ts = index / fps
        result = pipeline.process(frame, index, ts)
        for face in result.faces:
            t = tracks.setdefault(face.track_id, _Track(index, index))
            t.last_frame, t.frames, t.face_score_sum = index, t.frames + 1, t.face_score_sum + face.detector_score
        feed(result.windows, ts)
        for track in result.ended:
            record(rule.track_ended(track, ts))
    feed(pipeline.finish(), ts)
    for change in rule.close(ts):
        record(change)

    reports = [_track_report(tid, t, levels) for tid, t in sorted(tracks.items()) if t.windows]
    if any(t.alerts for t in reports):
        verdict = "fake"
    else:
        verdict = "real" if any(t.decides for t in reports) else "insufficient"
    score = max((t.score for t in reports if t.score is not None), default=None)
    return ScanReport(video, verdict, score, levels.on, pipeline.runner.model_id, n, fps, reports)


def _track_report(tid: int, t: _Track, levels: DecisionLevels) -> TrackReport:
    evidence = [(w, ts) for w, ts in t.windows if levels.is_evidence(w)]
    # the sustained score exists exactly when the evidence spans min_duration_s: when the track decides
    score = sustained_score([ts for _, ts in evidence], [w.p_fake for w, _ in evidence], levels.min_duration_s)
    return TrackReport(
        id=tid,
        first_frame=t.first_frame,
        last_frame=t.last_frame,
        frames=t.frames,
        face_score=t.face_score_sum / t.frames,
        decides=score is not None,
        score=score,
        mean=float(np.mean([w.p_fake for w, _ in t.windows])),
        alerts=t.alerts,
        windows=[
            {"start_frame": w.start_frame, "end_frame": w.end_frame, "p_fake": w.p_fake, "evidence": levels.is_evidence(w)}
            for w, _ in t.windows
        ],
    )
