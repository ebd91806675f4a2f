"""Train/validation splits by video AND identity, never by frame.

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


def split(records: list[ClipRecord], val_fraction: float, seed: int) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """(train, val). Each stratum (label x photo/video) gives about `val_fraction` of its components."""
    strata: dict[tuple[int, bool], list[list[ClipRecord]]] = defaultdict(list)
    for comp in components(records).values():
        key = (max(r.label for r in comp), all(r.n_frames == 1 for r in comp))
        strata[key].append(comp)
    train, val = [], []
    for comps in strata.values():
        comps.sort(key=lambda c: hashlib.sha256(f"{seed}:{min(r.video_id for r in c)}".encode()).hexdigest())
        n_val = round(len(comps) * val_fraction)
        if val_fraction > 0 and len(comps) > 1:
            n_val = max(1, n_val)
        for i, comp in enumerate(comps):
            (val if i < n_val else train).extend(comp)
    return train, val
