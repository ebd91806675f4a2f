"""What the supervisor hands a capture process, its exit codes, and the process's entry point.

Apart from stream.capture, as stream.worker_spec is apart from stream.worker:
the supervisor builds these and reads the exit codes without loading what a
capture runs on (PyAV, numpy, the ring).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from stream.keys import CurveSettings
from stream.shm import RingSpec
from stream.sources import Source
from stream.transport import Endpoint

if TYPE_CHECKING:
    from stream.config import StreamSection

EXIT_ENDED = 0  # every file ended (or its source is unusable): not restarted
EXIT_UNUSABLE = 2  # every source can never open: not restarted


@dataclass(frozen=True)
class CaptureSettings:
    """The stream section's values that a capture uses, as a plain dataclass: unpickling the pydantic
    section would load pydantic and the config's schemas (14 MiB) into every capture."""

    max_width: int
    max_height: int
    realtime: bool
    sample_fps: float  # 0: every frame
    loop: bool
    stall_timeout_s: float
    reconnect_base_s: float
    reconnect_max_s: float

    @classmethod
    def of(cls, section: StreamSection) -> CaptureSettings:
        return cls(**{f.name: getattr(section, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class CaptureSpec:
    source: Source
    frames_endpoint: Endpoint
    events_endpoint: Endpoint
    ring: RingSpec | None  # None: frames travel as JPEG (tcp)
    settings: CaptureSettings  # sizes, pacing, loop, stall and reconnect timing
    curve: CurveSettings | None = None  # CURVE keys for tcp:// (the stream.curve_* settings)


def capture_main(specs: list[CaptureSpec]) -> None:
    """A capture process's target, for its streams: PyAV and the ring load here, in the capture."""
    from stream.capture import run_captures

    run_captures(specs)
