"""Train the CNN + bidirectional GRU/LSTM detector on a prepared dataset.

Each epoch mixes three sources of fakes by the --mix-* shares: the dataset's
own fakes (real/fake crop pairs, deepfake videos), self-blended twins of real
faces (spatial and temporal variants), and cross-identity face swaps of real
faces. Splits are by video and identity: a test split (never trained on nor
used to choose) and a validation split that picks the epoch. Writes best.pt, last.pt, metrics.csv and
metrics.json to --out; stops early when the validation AUC stops rising.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = __doc__


# Help for the options training.config.add_options derives from TrainConfig's fields (their defaults are the fields').
HELPS = {
    "size": "input size in px (0: the dataset's crop size)",
    "window": "T, frames per temporal window",
    "hop": "frames between windows at run time",
    "stride": "stored frames between two frames of a window",
    "batch": "items per step (a real window and its fake twin are one item)",
    "warmup": "share of the steps spent warming up the learning rate",
    "aux_weight": "weight of the per-frame head's loss",
    "freeze_stages": "freeze the stem and first N of 7 backbone stages",
    "patience": "early stopping, in epochs",
    "val_fraction": "share of the rest's identities that pick the epoch",
    "test_fraction": "share of identities held out for reports only",
    "real_only": "train on real clips and their self-blended fakes only",
    "sbi": "no self-blended fakes (needs deepfake clips)",
    "temporal_sbi": "share of fakes made with the temporal variant",
    "mix_fakes": "share of items from the dataset's fakes (pairs, fake videos)",
    "mix_sbi": "share of items: a real face and its self-blended twin",
    "mix_swap": "share of items: a real face and a face-swap twin",
    "mix_video": "share of video windows among those real faces",
    "windows_per_clip": "training windows per clip per epoch (0: fill)",
    "max_windows_per_clip": "cap on the above (0: none)",
    "max_items_per_epoch": "a random subset of windows per epoch (0: all)",
    "augment": "augmentation strength (0 = off)",
    "workers": "data-loading processes",
    "device": "auto, cpu or cuda",
    "max_minutes": "stop after this much time (0: no limit)",
    "threads": "torch CPU threads (0: torch's default)",
    "hidden": "RNN hidden size per direction",
    "embed_dim": "projection size (0: no projection, 1280)",
    "pretrained": "start from random weights, not ImageNet",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from training.config import TrainConfig, add_options

    p.add_argument("dataset", type=Path, help="folder made by `dfd preprocess`")
    p.add_argument("--out", type=Path, required=True, help="run folder for checkpoints and metrics")
    add_options(p, TrainConfig, HELPS)
    p.add_argument("--resume", type=Path, help="continue from a checkpoint (its settings win)")


def run(args: argparse.Namespace) -> int:
    from training.config import Mixture, ModelConfig, TrainConfig, from_options
    from training.trainer import Trainer

    if args.resume:
        import torch

        saved = torch.load(args.resume, map_location="cpu", weights_only=False)["config"]
        model = ModelConfig(**saved.pop("model"))
        mixture = Mixture(**saved.pop("mixture", {}))
        cfg = TrainConfig(**{**saved, "model": model, "mixture": mixture, "epochs": args.epochs, "max_minutes": args.max_minutes})
    else:
        cfg = from_options(TrainConfig, args, dataset=str(args.dataset), out=str(args.out))
    result = Trainer(cfg, resume=str(args.resume) if args.resume else None).fit()
    print(f"best val AUC {result['best_val_auc']:.4f} at epoch {result['best_epoch']}; checkpoints in {cfg.out}")
    return 0
