"""The detector: a per-frame CNN encoder and a bidirectional RNN over a window of embeddings.

The two halves are separate modules because they are exported separately:
the run time encodes each face once and slides windows over cached embeddings.
"""

from __future__ import annotations

import torch
from torch import nn

from training.backbone import efficientnet_lite0
from training.config import ModelConfig


class Encoder(nn.Module):
    """One face crop (N, 3, S, S), normalized by the crop contract -> embedding (N, D)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.backbone = efficientnet_lite0(pretrained=cfg.pretrained)
        feats = self.backbone.features
        self.project = (
            nn.Sequential(nn.Linear(feats, cfg.embed_dim), nn.LayerNorm(cfg.embed_dim))
            if cfg.embed_dim
            else nn.Identity()
        )
        self.dim = cfg.embed_dim or feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.backbone(x))


class TemporalHead(nn.Module):
    """Embeddings (B, T, D) -> logit (B,): fuses the mean embedding with the RNN's states."""

    def __init__(self, dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.rnn not in ("gru", "lstm"):
            raise ValueError(f"rnn must be gru or lstm, not {cfg.rnn!r}")
        rnn_cls = nn.GRU if cfg.rnn == "gru" else nn.LSTM
        self.rnn = rnn_cls(dim, cfg.hidden, batch_first=True, bidirectional=True)
        fused = dim + 4 * cfg.hidden  # spatial mean + last states of both directions + mean states
        self.fuse = nn.Sequential(
            nn.Dropout(cfg.dropout),
            nn.Linear(fused, cfg.hidden),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, 1),
        )

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(emb)  # (B, T, 2H)
        h = states.shape[-1] // 2
        last = torch.cat([states[:, -1, :h], states[:, 0, h:]], dim=-1)  # each direction's final state
        fused = torch.cat([emb.mean(dim=1), last, states.mean(dim=1)], dim=-1)
        return self.fuse(fused).squeeze(-1)


class DeepfakeDetector(nn.Module):
    """Encoder + temporal head + an auxiliary per-frame head (used only in training)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.temporal = TemporalHead(self.encoder.dim, cfg)
        self.frame_head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(self.encoder.dim, 1))

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """clips (B, T, 3, S, S) -> window logits (B,), frame logits (B, T)."""
        b, t = clips.shape[:2]
        emb = self.encoder(clips.flatten(0, 1)).view(b, t, -1)
        return self.temporal(emb), self.frame_head(emb).squeeze(-1)


class ProbabilityHead(nn.Module):
    """The exported temporal graph: the sigmoid is inside, so ONNX outputs p(fake)."""

    def __init__(self, temporal: TemporalHead) -> None:
        super().__init__()
        self.temporal = temporal

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.temporal(emb))
