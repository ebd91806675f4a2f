"""Training and validation items: windows of T face crops, their fake twins, and real/fake pairs.

An item is a list of windows that get one augmentation draw together:
- a real window and a synthetic fake twin made from the same frames: a
  self-blended one (SBI, spatial or temporal) or a cross-identity face swap;
- a real/fake pair of crops from the same frame (a pairs CSV, e.g. DFDC);
- a window of a fake video.
A photo or a single crop is a one-frame item: the encoder sees it once and
the temporal head sees T copies of its embedding, as the run time scores a
face too short for a window. Items are collated by concatenation, so the
windows of an item stay together.

Training draws each epoch's items from the sources by the shares of a
`Mixture`; validation lists every val record once, deterministically, with
every twin kind, so runs with different mixtures are compared on one set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torchvision.transforms.v2 import functional as TF

from training.augment import AugmentConfig, build_augment
from training.config import NONE, SBI, SWAP, Mixture
from training.sbi import face_outline, self_blend_clip
from training.store import ClipRecord, Dataset


@dataclass(frozen=True)
class WindowSpec:
    window: int = 8  # T
    stride: int = 1  # stored frames between two frames of a window
    size: int = 112  # training input size
    sbi: bool = True  # validation: give real items a self-blended twin
    temporal_sbi: float = 0.5  # share of self-blended twins made with the temporal (flicker) variant


@dataclass(frozen=True)
class WindowRef:
    """One item: clips shown (a pair lists its real and its fake), the first frame, the twins to make."""

    clips: tuple[int, ...]
    start: int
    twins: tuple[int, ...] = ()


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
    """Items over the clips of one split; with `augment`, a fresh random draw each epoch."""

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
        mixture: Mixture | None = None,
        swaps: bool = False,
    ) -> None:
        self.data = data
        self.records = sorted(records, key=lambda r: r.clip)  # item i is the same window whoever lists the clips
        self.spec = spec
        self.augment = build_augment(augment) if augment is not None and augment.strength > 0 else None
        self.seed = seed
        self.windows_per_clip = windows_per_clip
        self.max_windows_per_clip = max_windows_per_clip
        self.max_items = max_items  # items per training epoch (0: one per natural window)
        self.mixture = mixture or Mixture(sbi=float(spec.sbi))
        self.donors = None
        if swaps or self.mixture.swap > 0:
            from training.swaps import DonorPool

            self.donors = DonorPool(data, self.records)
        self._sources()
        self.epoch = 0
        self.refs: list[WindowRef] = []
        self.set_epoch(0)

    def _sources(self) -> None:
        """Index the records once: pairs by video, fake clips, real video clips, real single faces.

        A pair's real crop is also a real single face: its identity can carry a synthetic twin too.
        """
        pairs: dict[str, dict[int, int]] = {}
        self.fake_clips, self.real_videos, self.real_singles = [], [], []
        for i, r in enumerate(self.records):
            if r.pair:
                pairs.setdefault(r.video_id, {})[r.label] = i
            if r.label:
                if not r.pair:
                    self.fake_clips.append(i)
            else:
                (self.real_videos if r.n_frames > 1 else self.real_singles).append(i)
        self.pairs = [(p[0], p[1]) for _, p in sorted(pairs.items()) if len(p) == 2]

    def _count(self, r: ClipRecord) -> int:
        span = self.spec.window * self.spec.stride
        n = self.windows_per_clip or max(1, r.n_frames // span)
        return min(n, self.max_windows_per_clip) if self.max_windows_per_clip else n

    def _windows(self, clips: list[int], rng: np.random.Generator | None, twins: tuple[int, ...]) -> list[WindowRef]:
        span = self.spec.window * self.spec.stride
        return [
            WindowRef((i,), s, twins)
            for i in clips
            for s in window_starts(self.records[i].n_frames, span, self._count(self.records[i]), rng)
        ]

    def set_epoch(self, epoch: int) -> None:
        """Training: a new draw by the mixture's shares. Validation (no augment): every record once."""
        self.epoch = epoch
        if self.augment is None:
            twins = tuple(t for t, on in ((SBI, self.spec.sbi), (SWAP, self.donors is not None)) if on)
            self.refs = (
                [WindowRef(p, 0) for p in self.pairs]
                + self._windows(self.fake_clips, None, ())
                + self._windows(self.real_videos + [i for i in self.real_singles if not self.records[i].pair], None, twins)
                + [WindowRef((self.pairs[k][0],), 0, twins) for k in range(0, len(self.pairs), 4)]
            )
            return
        rng = np.random.default_rng([self.seed, epoch])
        videos = self._windows(self.real_videos, rng, ())
        fakes = [WindowRef(p, 0) for p in self.pairs] + self._windows(self.fake_clips, rng, ())
        natural = len(fakes) + len(videos) + len(self.real_singles)
        total = self.max_items or natural
        refs: list[WindowRef] = []
        shares = self.mixture.shares()
        have = {NONE: bool(fakes), SBI: bool(videos or self.real_singles), SWAP: self.donors is not None}
        norm = sum(v for k, v in shares.items() if have[k]) or 1.0
        for kind, share in ((k, v / norm) for k, v in shares.items() if have[k]):
            n = round(total * share)
            if kind == NONE:
                refs += _draw(fakes, n, rng)
                continue
            n_video = round(n * self.mixture.video) if videos else 0
            if not self.real_singles:
                n_video = n
            refs += [WindowRef(r.clips, r.start, (kind,)) for r in _draw(videos, n_video, rng)]
            refs += [WindowRef((i,), 0, (kind,)) for i in _draw(self.real_singles, n - n_video, rng)]
        self.refs = refs

    def __len__(self) -> int:
        return len(self.refs)

    def frames(self, clip_index: int, start: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray | None]]:
        """uint8 (L, S, S, 3) with L = T, or 1 for a one-frame clip; each frame's mask outline and mesh."""
        clip = self.data.load(self.records[clip_index].clip)
        n = len(clip.faces)
        idx = np.minimum(start + np.arange(self.spec.window) * self.spec.stride, n - 1) if n > 1 else np.zeros(1, int)
        mesh = clip.mesh
        meshes = [None if mesh is None else mesh[i] for i in idx]
        outlines = [face_outline(clip.keypoints[i], m) for i, m in zip(idx, meshes)]
        return np.asarray(clip.faces[idx]), outlines, meshes

    def _twin(self, kind: int, faces: np.ndarray, outlines: list, meshes: list, group: str,
              rng: np.random.Generator) -> np.ndarray | None:
        if kind == SBI:
            return self_blend_clip(faces, outlines, rng, bool(rng.random() < self.spec.temporal_sbi))
        if self.donors is None or any(m is None for m in meshes):
            return None
        return self.donors.swap_window(faces, meshes, group, rng)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ref = self.refs[i]
        rng = np.random.default_rng([self.seed, self.epoch if self.augment is not None else 0, i])
        windows, labels, twins = [], [], []
        for c in ref.clips:
            faces, outlines, meshes = self.frames(c, ref.start)
            windows.append(faces)
            labels.append(self.records[c].label)
            twins.append(NONE)
        first = self.records[ref.clips[0]]
        for kind in ref.twins:
            twin = self._twin(kind, windows[0], outlines, meshes, first.group, rng) if not first.label else None
            if twin is not None:
                windows.append(twin)
                labels.append(1)
                twins.append(kind)
        length = len(windows[0])
        x = torch.from_numpy(np.concatenate(windows)).permute(0, 3, 1, 2)  # (K*L, 3, S, S)
        if x.shape[-1] != self.spec.size:  # first: augmenting at the training size costs half as much at 112 of 160
            x = TF.resize(x, [self.spec.size, self.spec.size], antialias=True)
        if self.augment is not None:
            with torch.random.fork_rng(devices=[]):  # one seeded draw per item; CPU RNG only, untouched after
                torch.manual_seed(int(rng.integers(1 << 62)))
                x = self.augment(x)
        k = len(windows)
        x = x.reshape(k, length, 3, self.spec.size, self.spec.size)
        if length < self.spec.window:  # a one-frame item: T copies, encoded once (see `single`)
            x = x.expand(k, self.spec.window, -1, -1, -1)
        twin = torch.tensor(twins, dtype=torch.int8)
        return {
            "clips": x.contiguous(),  # uint8 (K, T, 3, S, S)
            "labels": torch.tensor(labels, dtype=torch.float32),
            "index": torch.full((k,), i, dtype=torch.long),
            "synthetic": twin > 0,
            "twin": twin,
            "single": torch.full((k,), length == 1, dtype=torch.bool),
        }


def _draw(pool: list, n: int, rng: np.random.Generator) -> list:
    """n entries of a pool, without repeats while the pool lasts."""
    if not pool or n <= 0:
        return []
    picks = np.concatenate([rng.permutation(len(pool)) for _ in range(-(-n // len(pool)))])[:n]
    return [pool[k] for k in picks]


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.cat([it[k] for it in items]) for k in items[0]}
