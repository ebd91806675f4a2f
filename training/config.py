"""The training run's settings, torch-free: `dfd train`'s options and their defaults are derived from them.

`training.commands.train` builds its argparse options from these fields (one
source of every default), and the trainer and the model read the same classes.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from typing import Any

NONE, SBI, SWAP = 0, 1, 2  # what a window is: the data's own, a self-blended twin, a face-swap twin

# Int8 export: the first convolutions (the stem and EfficientNet-Lite0's blocks 0-2) stay float. Int8 error
# starts there and compounds; float, they took the 160 px model's p95 window error from 0.133 to 0.038 for
# little of the int8 speed (training/reports/size_160/int8_parity.md; the 112 px model needs more of them,
# training/reports/int8_parity.md).
FLOAT_CONVS = 9


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network from a checkpoint."""

    embed_dim: int = 256  # projection size; 0 keeps the backbone's 1280 features
    rnn: str = "gru"  # "gru" or "lstm"
    hidden: int = 128
    dropout: float = 0.3
    pretrained: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Mixture:
    """Shares of each epoch's training items by source (normalized; 0 turns a source off)."""

    fakes: float = 1.0  # the dataset's own fakes: real/fake crop pairs, windows of fake videos
    sbi: float = 1.0  # real faces with a self-blended twin
    swap: float = 0.0  # real faces with a cross-identity face-swap twin
    video: float = 0.5  # share of video windows among the real faces of sbi/swap items

    def shares(self) -> dict[int, float]:
        raw = {NONE: self.fakes, SBI: self.sbi, SWAP: self.swap}
        total = sum(raw.values())
        if total <= 0:
            raise ValueError("the mixture needs at least one source with a share above 0")
        return {k: v / total for k, v in raw.items() if v > 0}


@dataclass
class TrainConfig:
    dataset: str
    out: str
    size: int = 0  # 0: the dataset's stored crop size
    window: int = 8
    hop: int = 4  # frames between two windows at run time (written to the manifest)
    stride: int = 1
    epochs: int = 10
    batch: int = 8  # items per step; a real item with its self-blended twin counts once
    lr: float = 3e-4
    weight_decay: float = 0.05
    warmup: float = 0.05  # share of the steps spent warming up
    label_smoothing: float = 0.05
    aux_weight: float = 0.3  # weight of the per-frame head's loss
    freeze_stages: int = 0  # freeze the stem and the first N backbone stages
    patience: int = 3  # epochs without a better validation AUC before stopping
    seed: int = 0
    val_fraction: float = 0.15  # of the identities left after the test split: picks epochs and the threshold
    test_fraction: float = 0.1  # of the identities: never trained on nor used to choose, only reported
    real_only: bool = False
    sbi: bool = True
    temporal_sbi: float = 0.5
    mixture: Mixture = field(default_factory=Mixture)
    windows_per_clip: int = 0  # per epoch; 0: as many as fit without overlap
    max_windows_per_clip: int = 0
    max_items_per_epoch: int = 0  # 0: every window of the epoch
    val_windows_per_clip: int = 3
    augment: float = 1.0
    workers: int = 0
    device: str = "auto"
    max_minutes: float = 0.0
    threads: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)


PREFIXES = {"mixture": "mix_", "model": ""}  # the options of a nested section: --mix-fakes, --embed-dim
CHOICES = {"rnn": ("gru", "lstm")}


def _default(f) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


def add_options(p: argparse.ArgumentParser, cls: type, helps: dict[str, str], prefix: str = "") -> None:
    """One option per field with a default, nested sections flattened; a field that defaults to True is --no-NAME."""
    for f in fields(cls):
        if f.default is MISSING and f.default_factory is MISSING:
            continue  # required: the command's positional arguments
        default, dest = _default(f), prefix + f.name
        if is_dataclass(default):
            add_options(p, type(default), helps, PREFIXES[f.name])
        elif isinstance(default, bool):
            flag = f"--no-{dest}" if default else f"--{dest}"
            p.add_argument(flag.replace("_", "-"), dest=dest, action="store_false" if default else "store_true",
                           help=helps.get(dest))
        else:
            p.add_argument("--" + dest.replace("_", "-"), dest=dest, type=type(default), default=default,
                           choices=CHOICES.get(dest), help=helps.get(dest))


def from_options(cls: type, args: argparse.Namespace, prefix: str = "", **given: Any) -> Any:
    """The dataclass `add_options` described, from the parsed options (and `given` for the required fields)."""
    values = dict(given)
    for f in fields(cls):
        if f.name in values:
            continue
        default = _default(f)
        if is_dataclass(default):
            values[f.name] = from_options(type(default), args, PREFIXES[f.name])
        else:
            values[f.name] = getattr(args, prefix + f.name)
    return cls(**values)
