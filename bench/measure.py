"""Figures made of several runs: every number the benchmark reports is the median of its runs, with min and max."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Figure:
    """One reported number: the median over `runs` runs, and the spread of those runs."""

    median: float
    min: float
    max: float
    runs: int
    unit: str

    @classmethod
    def of(cls, values: list[float], unit: str) -> Figure:
        v = np.asarray(values, dtype=np.float64)
        return cls(float(np.median(v)), float(v.min()), float(v.max()), len(v), unit)

    def to_dict(self) -> dict:
        return asdict(self)


def percentile(samples: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))


def time_calls(fn: Callable[[], object], iterations: int, warmup: int = 2) -> np.ndarray:
    """Wall time of each of `iterations` calls, in seconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    out = np.empty(iterations)
    for i in range(iterations):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out


def latency_figures(
    fn: Callable[[], object], runs: int, iterations: int, per: int = 1, warmup: int = 2
) -> dict[str, Figure]:
    """Median and p95 latency in ms per item (`per` items per call), each over `runs` runs."""
    medians, p95s = [], []
    for _ in range(runs):
        ms = time_calls(fn, iterations, warmup) * 1000.0 / per
        medians.append(float(np.median(ms)))
        p95s.append(percentile(ms, 95))
    return {"median": Figure.of(medians, "ms"), "p95": Figure.of(p95s, "ms")}
