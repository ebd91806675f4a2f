"""Train/validation/test splits by video AND identity, never by frame.

Videos and identities are the nodes of a graph; a clip links its video to
each identity it shows. A connected component (a person with all their
videos, and anyone who shares a video with them) goes to one split whole.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from edge_model.errors import DfdError
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


def run_splits(records: list[ClipRecord], cfg: dict) -> tuple[list[ClipRecord], list[ClipRecord], list[ClipRecord]]:
    """(train, val, test) as `dfd train` cuts them from its config (seed, fractions, real_only)."""
    rest, test = hold_out(records, cfg["test_fraction"])
    train, val = split(rest, cfg["val_fraction"], cfg["seed"])
    if cfg.get("real_only"):
        train = [r for r in train if r.label == 0]
    return train, val, test


def data_summary(records: list[ClipRecord]) -> dict:
    """Counts only: no paths, no names."""
    def count(rs: list[ClipRecord]) -> dict:
        return {
            "videos": len({r.video_id for r in rs}),
            "identities": len({r.group for r in rs}),
            "clips": len(rs),
            "faces": sum(r.n_frames for r in rs),
        }

    real = [r for r in records if r.label == 0]
    fake = [r for r in records if r.label == 1]
    return {"real": count(real), "fake": count(fake), "methods": sorted({r.method for r in fake})}


def model_splits(records: list[ClipRecord], training: dict, model_id: str, dataset: object
                 ) -> tuple[list[ClipRecord], list[ClipRecord], list[ClipRecord]]:
    """A trained model's (train, val, test), rebuilt from its dataset with what its model.json records.

    Refused unless every split's counts match the recorded ones: another dataset would cut other splits.
    """
    if not {"config", "data"} <= set(training or {}):
        raise DfdError(f"{model_id}: model.json has no training record (config and data counts) to rebuild its splits from")
    train, val, test = run_splits(records, training["config"])
    rebuilt = {"train": data_summary(train), "val": data_summary(val), "test": data_summary(test)}
    if rebuilt != {k: training["data"].get(k) for k in rebuilt}:
        raise DfdError(f"{dataset} is not the dataset {model_id} was trained on: its splits differ from model.json's")
    return train, val, test
