"""Train/validation/test splits by video AND identity, never by frame.

Videos and identities are the nodes of a graph; a clip links its video to
each identity it shows. A connected component (a person with all their
videos, and anyone who shares a video with them) goes to one split whole.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from training.sources import IDENTITY_SEP
from training.store import ClipRecord


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def components(records: list[ClipRecord]) -> dict[str, list[ClipRecord]]:
    uf = _UnionFind()
    for r in records:
        for identity in r.group.split(IDENTITY_SEP):
            uf.union("v:" + r.video_id, "g:" + identity)
    comps: dict[str, list[ClipRecord]] = defaultdict(list)
    for r in records:
        comps[uf.find("v:" + r.video_id)].append(r)
    return comps


def _partition(records: list[ClipRecord], fraction: float, salt: str) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """(rest, held). Each stratum (label x photo/video) gives about `fraction` of its components."""
    strata: dict[tuple[int, bool], list[list[ClipRecord]]] = defaultdict(list)
    for comp in components(records).values():
        key = (max(r.label for r in comp), all(r.n_frames == 1 for r in comp))
        strata[key].append(comp)
    rest, held = [], []
    for comps in strata.values():
        comps.sort(key=lambda c: hashlib.sha256(f"{salt}:{min(r.video_id for r in c)}".encode()).hexdigest())
        n_held = round(len(comps) * fraction)
        if fraction > 0 and len(comps) > 1:
            n_held = max(1, n_held)
        for i, comp in enumerate(comps):
            (held if i < n_held else rest).extend(comp)
    return rest, held


def split(records: list[ClipRecord], val_fraction: float, seed: int) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """(train, val): val picks epochs and calibrates the threshold."""
    return _partition(records, val_fraction, str(seed))


def hold_out(records: list[ClipRecord], test_fraction: float) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """(rest, test): the test identities are only ever reported on.

    The hash ignores the training seed, so every run of a dataset holds out the same people.
    """
    if test_fraction <= 0:
        return records, []
    return _partition(records, test_fraction, "test")
