"""Cross-identity face swaps of training windows, with donors from the same split.

A real window gets a fake twin: another person's face (a photo or a frame of
another video track) swapped onto its frames by `edge_model.faceswap`, at a
random quality from clean to sloppy. Donors come from the split's own clips,
so no face of a validation identity leaks into training, and a donor never
shares an identity with the target, or the "fake" would be the same person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_model.faceswap import SwapQuality, swap_clip, yaw
from training.store import Clip, ClipRecord, Dataset

# Donors drawn per window; the one whose head is turned most like the target's is used.
CANDIDATES = 4


def identities(group: str) -> frozenset[str]:
    """The people of a group: `a+b` is a and b."""
    return frozenset(g for g in group.split("+") if g)


def usable_mesh(meshes: np.ndarray | Sequence[np.ndarray] | None) -> np.ndarray | None:
    """(T, 468, 2) float32 when every frame has a finite mesh, else None."""
    if meshes is None or len(meshes) == 0:
        return None
    arr = np.asarray(meshes, np.float32)
    return arr[..., :2] if arr.ndim == 3 and arr.shape[-1] >= 2 and np.isfinite(arr).all() else None


@dataclass
class Donor:
    record: ClipRecord
    face: np.ndarray  # uint8 RGB (S, S, 3)
    mesh: np.ndarray  # float32 (468, 2) in the face's pixels


class DonorPool:
    """The real clips of a split that have a face mesh, as donors of faces."""

    def __init__(self, data: Dataset, records: Sequence[ClipRecord]) -> None:
        self.data = data
        self.donors = sorted((r for r in records if r.label == 0 and r.has_mesh), key=lambda r: r.clip)
        self._people = [identities(r.group) for r in self.donors]

    def __len__(self) -> int:
        return len(self.donors)

    def others(self, group: str) -> list[int]:
        """Indices of the donors that show none of `group`'s people."""
        own = identities(group)
        return [i for i, people in enumerate(self._people) if not people & own]

    def pick(self, group: str, target_yaw: float, rng: np.random.Generator) -> Donor | None:
        """A face of another identity, turned about like the target (`yaw`), or None when there is none.

        Of CANDIDATES random donor clips, the frame with the yaw nearest the target's wins.
        """
        allowed = self.others(group)
        best: tuple[float, ClipRecord, Clip, int] | None = None
        for i in rng.permutation(allowed)[:CANDIDATES] if allowed else []:
            record = self.donors[int(i)]
            clip = self.data.load(record.clip)
            ok = np.array([], int) if clip.mesh is None else np.flatnonzero(np.isfinite(clip.mesh).all(axis=(1, 2)))
            if len(ok):
                gaps = np.abs(yaw(clip.mesh[ok]) - target_yaw)
                j = int(np.argmin(gaps))
                if best is None or gaps[j] < best[0]:
                    best = (float(gaps[j]), record, clip, int(ok[j]))
        if best is None:
            return None
        _, record, clip, k = best
        return Donor(record, np.asarray(clip.faces[k]), np.asarray(clip.mesh[k, :, :2], np.float32))

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
        donor = self.pick(group, float(yaw(target).mean()), rng)
        if donor is None:
            return None
        return swap_clip(np.asarray(faces), target, donor.face, donor.mesh, rng, quality)
