"""Augmentation that is the same for every frame of a clip, and for both images of a pair.

torchvision.transforms.v2 draws one set of random parameters per call and
applies it to every image of a (N, 3, H, W) batch, so one call on the stacked
frames of a clip (and of its self-blended twin) keeps lighting, pose, blur,
noise and JPEG identical across them: compression and blur are then never a
cue for real vs fake, and the GRU sees no flicker the data didn't have.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from edge_model.crop import CropSpec


@dataclass(frozen=True)
class AugmentConfig:
    strength: float = 1.0  # 0 turns augmentation off
    flip: float = 0.5
    affine: float = 0.5
    perspective: float = 0.2
    color: float = 0.8
    gamma: float = 0.3
    blur: float = 0.25
    downscale: float = 0.25
    jpeg: float = 0.5
    noise: float = 0.2


class RandomGamma:
    """One gamma for the whole batch."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return TF.adjust_gamma(x, float(torch.empty(1).uniform_(self.low, self.high)))


class RandomContrast:
    """Contrast around mid-grey, not around each image's own mean (as ColorJitter does),
    so that a real face and its blended twin get exactly the same change."""

    def __init__(self, amount: float) -> None:
        self.amount = amount

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        c = float(torch.empty(1).uniform_(1 - self.amount, 1 + self.amount))
        return ((x.float() - 128.0) * c + 128.0).round().clamp(0, 255).to(torch.uint8)


class RandomDownscale:
    """Down- and up-sample the batch by one factor: the look of a low-resolution camera or stream."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        f = float(torch.empty(1).uniform_(self.low, self.high))
        small = TF.resize(x, [max(8, int(h * f)), max(8, int(w * f))], antialias=True)
        return TF.resize(small, [h, w], antialias=False)


class SharedNoise:
    """Gaussian noise with one noise field for every image of the batch (uint8 in, uint8 out)."""

    def __init__(self, max_sigma: float) -> None:
        self.max_sigma = max_sigma

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        sigma = float(torch.empty(1).uniform_(0.0, self.max_sigma))
        field = torch.randn((1, *x.shape[-3:])) * sigma
        return (x.float() + field).round().clamp(0, 255).to(torch.uint8)


def _maybe(p: float, t) -> v2.Transform:
    return v2.RandomApply([t], p=min(1.0, p))


def build_augment(cfg: AugmentConfig) -> v2.Compose:
    """uint8 (N, 3, H, W) -> uint8 (N, 3, H, W), one draw of parameters per call."""
    s = cfg.strength
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(cfg.flip),
            _maybe(cfg.affine * s, v2.RandomAffine(degrees=10 * s, translate=(0.05 * s, 0.05 * s), scale=(1 - 0.08 * s, 1 + 0.08 * s))),
            v2.RandomPerspective(0.15 * s, p=min(1.0, cfg.perspective * s)),
            _maybe(cfg.color * s, v2.ColorJitter(brightness=0.3 * s, saturation=0.3 * s)),  # no hue: 90 ms an item on a CPU
            _maybe(cfg.color * s, RandomContrast(0.3 * s)),
            _maybe(cfg.gamma * s, RandomGamma(1 - 0.3 * s, 1 + 0.4 * s)),
            _maybe(cfg.blur * s, v2.GaussianBlur(5, sigma=(0.2, 1.2 * s + 0.2))),
            _maybe(cfg.downscale * s, RandomDownscale(1 - 0.5 * s, 1.0)),
            _maybe(cfg.jpeg * s, v2.JPEG((max(1, int(100 - 70 * s)), 95))),
            _maybe(cfg.noise * s, SharedNoise(6.0 * s)),
        ]
    )


def normalize_tensor(x: torch.Tensor, spec: CropSpec) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float32, with the crop contract's mean and std.

    The arithmetic is `edge_model.crop.normalize`'s: (x - mean*255) / (std*255).
    """
    shift = torch.tensor(spec.mean, dtype=torch.float32, device=x.device).view(3, 1, 1) * 255.0
    scale = torch.tensor(spec.std, dtype=torch.float32, device=x.device).view(3, 1, 1) * 255.0
    return (x.float() - shift) / scale
