"""What the supervisor hands a worker process, and the process's entry point.

Apart from stream.worker so that the supervisor, which pickles these to each
spawned worker, never loads the model's run time (ONNX Runtime, OpenCV, the
detector): only the worker imports stream.worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from stream.config import Config
from stream.keys import CurveSettings
from stream.shm import RingSpec
from stream.transport import Endpoint


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    frames: dict[str, Endpoint]  # stream -> endpoint
    events_endpoint: Endpoint
    config: Config
    rings: dict[str, RingSpec] | None = None  # None: JPEG frames (tcp)
    supervised: bool = True
    curve: CurveSettings | None = None  # CURVE keys for tcp:// (the stream.curve_* settings)


def worker_main(spec: WorkerSpec) -> None:
    """The spawned worker's target: the run time loads here, in the worker."""
    from stream.worker import run_worker

    run_worker(spec)
