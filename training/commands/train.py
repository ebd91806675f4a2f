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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", type=Path, help="folder made by `dfd preprocess`")
    p.add_argument("--out", type=Path, required=True, help="run folder for checkpoints and metrics")
    p.add_argument("--size", type=int, default=0, help="input size in px (default: the dataset's crop size)")
    p.add_argument("--window", type=int, default=8, help="T, frames per temporal window")
    p.add_argument("--hop", type=int, default=4, help="frames between windows at run time")
    p.add_argument("--stride", type=int, default=1, help="stored frames between two frames of a window")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=8, help="items per step (a real window and its fake twin are one item)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--label-smoothing", type=float, default=0.05)
    p.add_argument("--aux-weight", type=float, default=0.3, help="weight of the per-frame head's loss")
    p.add_argument("--rnn", choices=["gru", "lstm"], default="gru")
    p.add_argument("--hidden", type=int, default=128, help="RNN hidden size per direction")
    p.add_argument("--embed-dim", type=int, default=256, help="projection size (0: no projection, 1280)")
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--freeze-stages", type=int, default=0, help="freeze the stem and first N of 7 backbone stages")
    p.add_argument("--no-pretrained", action="store_true", help="start from random weights, not ImageNet")
    p.add_argument("--real-only", action="store_true", help="train on real clips and their self-blended fakes only")
    p.add_argument("--no-sbi", action="store_true", help="no self-blended fakes (needs deepfake clips)")
    p.add_argument("--mix-fakes", type=float, default=1.0, help="share of items from the dataset's fakes (pairs, fake videos)")
    p.add_argument("--mix-sbi", type=float, default=1.0, help="share of items: a real face and its self-blended twin")
    p.add_argument("--mix-swap", type=float, default=0.0, help="share of items: a real face and a face-swap twin")
    p.add_argument("--mix-video", type=float, default=0.5, help="share of video windows among those real faces")
    p.add_argument("--temporal-sbi", type=float, default=0.5, help="share of fakes made with the temporal variant")
    p.add_argument("--augment", type=float, default=1.0, help="augmentation strength (0 = off)")
    p.add_argument("--windows-per-clip", type=int, default=0, help="training windows per clip per epoch (0: fill)")
    p.add_argument("--max-windows-per-clip", type=int, default=0, help="cap on the above (0: none)")
    p.add_argument("--max-items-per-epoch", type=int, default=0, help="a random subset of windows per epoch (0: all)")
    p.add_argument("--val-windows-per-clip", type=int, default=3)
    p.add_argument("--val-fraction", type=float, default=0.15, help="share of the rest's identities that pick the epoch")
    p.add_argument("--test-fraction", type=float, default=0.1, help="share of identities held out for reports only")
    p.add_argument("--patience", type=int, default=3, help="early stopping, in epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="data-loading processes")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop after this much time (0: no limit)")
    p.add_argument("--resume", type=Path, help="continue from a checkpoint (its settings win)")


def run(args: argparse.Namespace) -> int:
    from training.model import ModelConfig
    from training.trainer import TrainConfig, Trainer
    from training.windows import Mixture

    if args.resume:
        import torch

        saved = torch.load(args.resume, map_location="cpu", weights_only=False)["config"]
        model = ModelConfig(**saved.pop("model"))
        mixture = Mixture(**saved.pop("mixture", {}))
        cfg = TrainConfig(**{**saved, "model": model, "mixture": mixture, "epochs": args.epochs, "max_minutes": args.max_minutes})
    else:
        cfg = TrainConfig(
            dataset=str(args.dataset), out=str(args.out), size=args.size, window=args.window, hop=args.hop,
            stride=args.stride, epochs=args.epochs, batch=args.batch, lr=args.lr, weight_decay=args.weight_decay,
            label_smoothing=args.label_smoothing, aux_weight=args.aux_weight, freeze_stages=args.freeze_stages,
            patience=args.patience, seed=args.seed, val_fraction=args.val_fraction,
            test_fraction=args.test_fraction, real_only=args.real_only,
            mixture=Mixture(args.mix_fakes, args.mix_sbi, args.mix_swap, args.mix_video),
            sbi=not args.no_sbi, temporal_sbi=args.temporal_sbi, windows_per_clip=args.windows_per_clip,
            max_windows_per_clip=args.max_windows_per_clip, max_items_per_epoch=args.max_items_per_epoch,
            val_windows_per_clip=args.val_windows_per_clip,
            augment=args.augment, workers=args.workers, device=args.device, max_minutes=args.max_minutes,
            threads=args.threads,
            model=ModelConfig(args.embed_dim, args.rnn, args.hidden, args.dropout, not args.no_pretrained),
        )
    result = Trainer(cfg, resume=str(args.resume) if args.resume else None).fit()
    print(f"best val AUC {result['best_val_auc']:.4f} at epoch {result['best_epoch']}; checkpoints in {cfg.out}")
    return 0
