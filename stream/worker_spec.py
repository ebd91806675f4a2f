"""What the supervisor hands a worker process, and the process's entry point.

Apart from stream.worker so that the supervisor, which pickles these to each
spawned worker, never loads the model's run time (ONNX Runtime, OpenCV, the
detector): only the worker imports stream.worker. The worker's settings come
as plain dataclasses, so the worker never loads pydantic and the config's
schemas either (with the messages' schemas, about 15 MiB of each worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_model.decision import DecisionLevels
from edge_model.settings import PipelineSettings
from stream.keys import CurveSettings
from stream.shm import RingSpec
from stream.transport import Endpoint

if TYPE_CHECKING:
    from stream.config import Config


@dataclass(frozen=True)
class WorkerSettings:
    """The config's values that a worker uses."""

    pipeline: PipelineSettings
    model_path: str  # empty: the packaged default model
    batch: int  # model.batch
    levels: DecisionLevels  # the alert rule, its on-level resolved against the model's threshold
    update_every_s: float  # policy.update_every_s
    evidence_dir: str
    clip_frames: int  # alerts.clip_frames
    web: bool  # web.enabled: the worker sends face boxes for the page's live view

    @classmethod
    def of(cls, config: Config, threshold: float) -> WorkerSettings:
        """`threshold`: the model's (its model.json), the on-level unless policy.on says otherwise."""
        return cls(config.pipeline(), config.model.path, config.model.batch, config.policy.levels(threshold),
                   config.policy.update_every_s, config.alerts.evidence_dir, config.alerts.clip_frames,
                   config.web.enabled)


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    frames: dict[str, Endpoint]  # stream -> endpoint
    events_endpoint: Endpoint
    settings: WorkerSettings
    rings: dict[str, RingSpec] | None = None  # None: JPEG frames (tcp)
    supervised: bool = True
    curve: CurveSettings | None = None  # CURVE keys for tcp:// (the stream.curve_* settings)


def worker_main(spec: WorkerSpec) -> None:
    """The spawned worker's target: the run time loads here, in the worker."""
    from stream.worker import run_worker

    run_worker(spec)
