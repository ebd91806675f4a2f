"""The settings of the face pipeline, with the one place of their defaults.

Kept apart from edge_model.pipeline so that reading a config (every process of
`dfd watch`, the lean capture included) never loads ONNX Runtime or OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_model.errors import DfdError

PRECISIONS = ("int8", "fp32")
RANGES = ("auto", "short", "full")  # the detector's: short-range, full-range, or both


@dataclass(frozen=True)
class PipelineSettings:
    """What a user may set about detection, tracking and the model's sessions: the one place of their defaults.

    `stream.config`'s [model], [detector] and [tracker] sections take their
    defaults from here, and `dfd evaluate` reads the same keys.
    """

    threads: int = 1  # onnxruntime intra-op threads, for the encoder and the detector
    precision: str = "int8"  # the encoder's
    range: str = "auto"  # the detector's: short, full, or auto (both)
    min_score: float = 0.6
    every: int = 1  # run the detector on every k-th frame, track between
    max_faces: int = 4
    iou: float = 0.3  # the tracker's matching overlap
    max_missed: int = 8  # frames a track survives unseen

    def __post_init__(self) -> None:
        problems = [
            (self.threads >= 1, "threads: must be at least 1"),
            (self.precision in PRECISIONS, f"precision: must be {' or '.join(PRECISIONS)}"),
            (self.range in RANGES, f"range: must be one of {', '.join(RANGES)}"),
            (0.0 < self.min_score < 1.0, "min_score: must be between 0 and 1"),
            (self.every >= 1, "every: must be at least 1"),
            (self.max_faces >= 1, "max_faces: must be at least 1"),
            (0.0 < self.iou < 1.0, "iou: must be between 0 and 1"),
            (self.max_missed >= 1, "max_missed: must be at least 1"),
        ]
        for ok, problem in problems:
            if not ok:
                raise DfdError(f"pipeline setting {problem}")
