"""Cross-identity face swaps of training windows, with donors from the same split.

A real window gets a fake twin: another person's face (a photo or a frame of
another video track) swapped onto its frames by `edge_model.faceswap`, at a
random quality from clean to sloppy. Donors come from the split's own clips,
so no face of a validation identity leaks into training, and a donor never
shares an identity with the target, or the "fake" would be the same person.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_model.faceswap import SwapQuality, swap_clip
from training.store import ClipRecord, Dataset


def identities(group: str) -> frozenset[str]:
    """The people of a group: `a+b` is a and b."""
    return frozenset(g for g in group.split("+") if g)


def usable_mesh(meshes: np.ndarray | Sequence[np.ndarray] | None) -> np.ndarray | None:
    """(T, 468, 2) float32 when every frame has a finite mesh, else None."""
    if meshes is None or len(meshes) == 0:
        return None
    arr = np.asarray(meshes, np.float32)
    return arr if arr.ndim == 3 and arr.shape[-1] >= 2 and np.isfinite(arr).all() else None


class DonorPool:
    """The real clips of a split that have a face mesh, as donors of faces."""

    def __init__(self, data: Dataset, records: Sequence[ClipRecord]) -> None:
        self.data = data
        self.donors = sorted((r for r in records if r.label == 0 and r.has_mesh), key=lambda r: r.clip)
        self._people = [identities(r.group) for r in self.donors]

    def __len__(self) -> int:
        return len(self.donors)

    def pick(self, group: str, rng: np.random.Generator) -> ClipRecord | None:
        """A donor clip showing none of `group`'s people, or None when the pool has none."""
        own = identities(group)
        allowed = [i for i, people in enumerate(self._people) if not people & own]
        return self.donors[allowed[int(rng.integers(len(allowed)))]] if allowed else None

    def face(self, record: ClipRecord, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        """A random frame of a donor clip with a finite mesh: uint8 RGB face and (468, 2) mesh."""
        clip = self.data.load(record.clip)
        if clip.mesh is None:
            return None
        ok = np.flatnonzero(np.isfinite(clip.mesh).all(axis=(1, 2)))
        if not len(ok):
            return None
        i = int(ok[rng.integers(len(ok))])
        return np.asarray(clip.faces[i]), np.asarray(clip.mesh[i, :, :2], np.float32)

    def swap_window(
        self,
        faces: np.ndarray,
        meshes: np.ndarray | Sequence[np.ndarray] | None,
        group: str,
        rng: np.random.Generator,
        quality: SwapQuality | None = None,
    ) -> np.ndarray | None:
        """The swapped fake twin (T, S, S, 3) uint8 of a real window, or None.

        None when the window lacks a face mesh on any frame or no donor of
        another identity is at hand; the caller then makes no twin (or a
        self-blended one). `quality` defaults to a random clean-to-sloppy draw.
        """
        target = usable_mesh(meshes)
        if target is None or len(target) != len(faces):
            return None
        donor = self.pick(group, rng)
        face = None if donor is None else self.face(donor, rng)
        if face is None:
            return None
        return swap_clip(np.asarray(faces), target, face[0], face[1], rng, quality)
