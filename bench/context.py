"""What every section gets: how much to measure, the models, a scratch folder, and the progress bar."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress, TaskID


class Skip(Exception):
    """A section (or part of one) that can't run here; the message says why and goes in the results."""


@dataclass(frozen=True)
class Plan:
    """How hard to measure: --quick trades precision for a run of about two minutes."""

    quick: bool
    runs: int  # independent runs behind every figure
    iterations: int  # timed calls per run of a micro-benchmark
    watch_runs: int  # repeats of each `dfd watch` measurement (they are long)
    watch_seconds: float  # how long one `dfd watch` run lasts
    warmup_seconds: float  # the start of a `dfd watch` run that is not counted
    max_streams: int  # where the capacity search stops

    @classmethod
    def make(cls, quick: bool, runs: int | None = None) -> Plan:
        if quick:
            return cls(True, runs or 3, 15, 1, 7.0, 2.5, 8)
        return cls(False, runs or 5, 60, min(runs or 3, 3), 20.0, 5.0, 16)


@dataclass
class Context:
    plan: Plan
    models: list[Path]  # model folders to measure; the first is the one streams run
    workdir: Path
    progress: Progress
    task: TaskID | None = None
    watch_runs: dict = field(default_factory=dict)  # (config name, streams) -> [WatchRun]: memory reuses capacity's

    def step(self, description: str, advance: float = 1.0) -> None:
        if self.task is not None:
            self.progress.update(self.task, advance=advance, description=description)
