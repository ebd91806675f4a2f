"""`--freeze-stages`: the stem and the first stages keep their weights and BatchNorm statistics in training."""

from __future__ import annotations

import torch

from training.backbone import efficientnet_lite0


def _changed_by_one_step(frozen: int) -> tuple[set[str], int]:
    torch.manual_seed(0)
    net = efficientnet_lite0(pretrained=False)
    net.freeze_stages(frozen)
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    net(torch.randn(2, 3, 64, 64)).square().mean().backward()
    opt.step()
    after = net.state_dict()
    first_trained_block = net.stage_spans[frozen - 1][1] if frozen else 0
    return {k for k in before if not torch.equal(before[k], after[k])}, first_trained_block


def test_frozen_stages_keep_weights_and_statistics_and_the_rest_trains():
    changed, first_trained = _changed_by_one_step(3)
    frozen = ("_conv_stem.", "_bn0.") + tuple(f"_blocks.{i}." for i in range(first_trained))
    assert first_trained > 0
    assert not [k for k in changed if k.startswith(frozen)]
    assert any(k.startswith(f"_blocks.{first_trained}.") and k.endswith(".weight") for k in changed)
    assert any(k.startswith(f"_blocks.{first_trained}.") and k.endswith("running_mean") for k in changed)


def test_nothing_frozen_trains_the_stem():
    changed, _ = _changed_by_one_step(0)
    assert {"_conv_stem.weight", "_bn0.running_mean"} <= changed
