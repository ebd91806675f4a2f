"""Augmentation draws one set of parameters per clip: every frame (and both images of a pair) gets it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edge_model.crop import CropSpec, normalize
from training.augment import AugmentConfig, build_augment, normalize_tensor


def _frame(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (3, 16, 16), generator=g, dtype=torch.uint8)
    return torch.nn.functional.interpolate(img[None].float(), size=64, mode="bilinear")[0].to(torch.uint8)


@pytest.mark.parametrize("seed", range(12))
def test_identical_frames_stay_identical(seed):
    aug = build_augment(AugmentConfig(strength=1.0))
    clip = _frame(seed).expand(6, -1, -1, -1).contiguous()
    torch.manual_seed(seed)
    out = aug(clip)
    assert out.dtype == torch.uint8 and out.shape == clip.shape
    for f in out[1:]:
        assert torch.equal(f, out[0])


def test_augmentation_changes_clips_and_differs_between_draws():
    aug = build_augment(AugmentConfig(strength=1.0))
    clip = torch.stack([_frame(1), _frame(2)])
    torch.manual_seed(0)
    outs = [aug(clip) for _ in range(8)]
    assert sum(not torch.equal(o, clip) for o in outs) >= 6
    assert len({o.numpy().tobytes() for o in outs}) >= 6


def test_a_pair_gets_the_same_geometry_and_degradation():
    """Real and fake differ only inside a patch; after one call they still differ only near it."""
    real = _frame(3)
    fake = real.clone()
    fake[:, 28:36, 28:36] = 255 - fake[:, 28:36, 28:36]
    cfg = AugmentConfig(strength=1.0, affine=0.0, perspective=0.0, flip=0.0)
    aug = build_augment(cfg)
    for seed in range(10):
        torch.manual_seed(seed)
        out = aug(torch.stack([real, fake]))
        diff = (out[0].int() - out[1].int()).abs().amax(0)
        far = torch.ones_like(diff, dtype=torch.bool)
        far[12:52, 12:52] = False  # JPEG blocks (and chroma upsampling) spread the difference a little
        assert diff[far].max() <= 3, f"seed {seed}: the two images were augmented differently"


def test_normalize_tensor_matches_the_crop_contract():
    spec = CropSpec(size=32, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    crops = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    ours = normalize_tensor(torch.from_numpy(crops).permute(0, 3, 1, 2), spec).numpy()
    np.testing.assert_allclose(ours, normalize(crops, spec), rtol=1e-6, atol=1e-6)
