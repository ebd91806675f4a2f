"""Two runs of the evaluation suite, unit by unit: how far each score moved and how many verdicts changed.

    python training/recipes/compare_suites.py BEFORE/suite.json AFTER/suite.json
"""

from __future__ import annotations

import json
import sys

import numpy as np


def scored(units: list[dict]) -> dict[tuple[str, int], dict]:
    return {(u["unit"], u["label"]): u for u in units if u.get("score") is not None}


def main(before_path: str, after_path: str) -> None:
    before, after = (json.load(open(p))["sets"] for p in (before_path, after_path))
    print("| set | AUC before | AUC after | units in both (only before / only after) | abs score change p50 / p95 / max | verdicts changed |")
    print("|---|---|---|---|---|---|")
    for name in before:
        a, b = scored(before[name].get("units") or []), scored(after[name].get("units") or [])
        both = sorted(set(a) & set(b))
        moved = np.array([abs(a[k]["score"] - b[k]["score"]) for k in both] or [0.0])
        auc = [s[name].get("auc") for s in (before, after)]
        print(f"| `{name}` | {' | '.join('–' if x is None else f'{x:.4f}' for x in auc)} | {len(both)} "
              f"({len(set(a) - set(b))} / {len(set(b) - set(a))}) | {np.median(moved):.4f} / "
              f"{np.percentile(moved, 95):.4f} / {moved.max():.4f} | {sum(a[k]['fake'] != b[k]['fake'] for k in both)} |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
