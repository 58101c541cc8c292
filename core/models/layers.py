"""Parts shared by the built-in models: masks, pooling over valid steps and the output head."""

from __future__ import annotations

import torch
from torch import nn

from core.config import ModelConfig

__all__ = ["valid_mask", "pool", "Head"]


def valid_mask(lengths: torch.Tensor, t_len: int) -> torch.Tensor:
    """[B, T] bool, True at each sequence's first ``lengths[i]`` steps (no host sync)."""
    return torch.arange(t_len, device=lengths.device)[None, :] < lengths[:, None]


def pool(h: torch.Tensor, lengths: torch.Tensor | None, how: str) -> torch.Tensor:
    """Summarises per-step features ``h`` [B, T, H] over each sequence's valid steps -> [B, H].

    ``how``: ``last`` (the step at ``lengths - 1``), ``mean`` or ``max``.
    """
    if how == "last":
        if lengths is None:
            return h[:, -1]
        idx = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, h.shape[-1])
        return h.gather(1, idx).squeeze(1)
    if lengths is None:
        return h.mean(1) if how == "mean" else h.amax(1)
    mask = valid_mask(lengths, h.shape[1]).unsqueeze(-1)
    if how == "mean":
        return (h * mask).sum(1) / lengths.clamp(min=1).view(-1, 1).to(h.dtype)
    return h.masked_fill(~mask, torch.finfo(h.dtype).min).amax(1)


class Head(nn.Module):
    """Optional LayerNorm, optional hidden layer, dropout and the output layer: [B, H] -> [B, K]."""

    def __init__(self, in_features: int, cfg: ModelConfig, num_outputs: int):
        super().__init__()
        layers: list[nn.Module] = [nn.LayerNorm(in_features)] if cfg.layer_norm else []
        if cfg.head_hidden:
            layers += [nn.Linear(in_features, cfg.head_hidden), nn.GELU()]
            in_features = cfg.head_hidden
        layers += [nn.Dropout(cfg.head_dropout), nn.Linear(in_features, num_outputs)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
