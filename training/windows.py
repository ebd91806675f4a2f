"""Windows of T face crops for training and validation, with self-blended twins.

A training item is a list of windows: a real window and, with self-blending,
its fake twin made from the same frames (the pair gets one augmentation
draw), or a window of a fake video. A photo is a window of T copies of
itself. Items are collated by concatenation, so pairs stay together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torchvision.transforms.v2 import functional as TF

from training.augment import AugmentConfig, build_augment
from training.sbi import face_outline, self_blend_clip
from training.store import ClipRecord, Dataset


@dataclass(frozen=True)
class WindowSpec:
    window: int = 8  # T
    stride: int = 1  # stored frames between two frames of a window
    size: int = 112  # training input size
    sbi: bool = True  # add a self-blended twin to each real window
    temporal_sbi: float = 0.5  # share of twins made with the temporal (flicker) variant


@dataclass(frozen=True)
class WindowRef:
    """One window: a clip and its first stored frame."""

    clip: int
    start: int


def window_starts(n_frames: int, span: int, count: int, rng: np.random.Generator | None) -> list[int]:
    """`count` start positions spread over a clip; random offsets when `rng` is given."""
    last = max(n_frames - span, 0)
    if count <= 1:
        return [int(rng.integers(0, last + 1)) if rng is not None else last // 2]
    base = np.linspace(0, last, count)
    if rng is not None:
        base = base + rng.uniform(-0.5, 0.5, count) * (last / count)
    return sorted({int(np.clip(round(b), 0, last)) for b in base})


class WindowDataset(TorchDataset):
    """Windows over the clips of one split."""

    def __init__(
        self,
        data: Dataset,
        records: list[ClipRecord],
        spec: WindowSpec,
        augment: AugmentConfig | None,
        seed: int,
        windows_per_clip: int = 0,
        max_windows_per_clip: int = 0,
        max_items: int = 0,
    ) -> None:
        self.data = data
        self.records = sorted(records, key=lambda r: r.clip)  # item i is the same window whoever lists the clips
        self.spec = spec
        self.augment = build_augment(augment) if augment is not None and augment.strength > 0 else None
        self.seed = seed
        self.windows_per_clip = windows_per_clip
        self.max_windows_per_clip = max_windows_per_clip
        self.max_items = max_items  # a random subset per epoch, for CPU budgets
        self.epoch = 0
        self.refs: list[WindowRef] = []
        self.set_epoch(0)

    def _count(self, r: ClipRecord) -> int:
        span = self.spec.window * self.spec.stride
        n = self.windows_per_clip or max(1, r.n_frames // span)
        return min(n, self.max_windows_per_clip) if self.max_windows_per_clip else n

    def set_epoch(self, epoch: int) -> None:
        """New random window positions for training; fixed ones (no rng) for validation."""
        self.epoch = epoch
        rng = np.random.default_rng([self.seed, epoch]) if self.augment is not None else None
        span = self.spec.window * self.spec.stride
        self.refs = [
            WindowRef(i, s)
            for i, r in enumerate(self.records)
            for s in window_starts(r.n_frames, span, self._count(r), rng)
        ]
        if self.max_items and rng is not None and len(self.refs) > self.max_items:
            keep = np.sort(rng.choice(len(self.refs), self.max_items, replace=False))
            self.refs = [self.refs[k] for k in keep]

    def __len__(self) -> int:
        return len(self.refs)

    def frames(self, ref: WindowRef) -> tuple[np.ndarray, list[np.ndarray]]:
        """uint8 (T, S, S, 3) and the mask outline of each frame; short clips repeat frames."""
        clip = self.data.load(self.records[ref.clip].clip)
        n = len(clip.faces)
        idx = ref.start + np.arange(self.spec.window) * self.spec.stride
        idx = np.minimum(idx, n - 1) if n > 1 else np.zeros(self.spec.window, int)
        faces = np.asarray(clip.faces[idx])
        mesh = clip.mesh
        outlines = [face_outline(clip.keypoints[i], None if mesh is None else mesh[i]) for i in idx]
        return faces, outlines

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ref = self.refs[i]
        record = self.records[ref.clip]
        rng = np.random.default_rng([self.seed, self.epoch if self.augment is not None else 0, i])
        faces, outlines = self.frames(ref)
        windows, labels = [faces], [record.label]
        if record.label == 0 and self.spec.sbi:
            temporal = bool(rng.random() < self.spec.temporal_sbi)
            windows.append(self_blend_clip(faces, outlines, rng, temporal))
            labels.append(1)
        x = torch.from_numpy(np.concatenate(windows)).permute(0, 3, 1, 2)  # (K*T, 3, S, S)
        if self.augment is not None:
            with torch.random.fork_rng(devices=[]):  # one seeded draw per item; CPU RNG only, untouched after
                torch.manual_seed(int(rng.integers(1 << 62)))
                x = self.augment(x)
        if x.shape[-1] != self.spec.size:
            x = TF.resize(x, [self.spec.size, self.spec.size], antialias=True)
        k = len(windows)
        return {
            "clips": x.reshape(k, self.spec.window, 3, self.spec.size, self.spec.size),  # uint8
            "labels": torch.tensor(labels, dtype=torch.float32),
            "index": torch.full((k,), i, dtype=torch.long),
            "synthetic": torch.tensor([0] + [1] * (k - 1), dtype=torch.bool),
        }


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.cat([it[k] for it in items]) for k in items[0]}
