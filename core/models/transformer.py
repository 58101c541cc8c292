"""Transformer encoder (``transformer``): pre-norm layers over projected inputs, with a key-padding
mask from ``lengths``, so padding never changes a sequence's output.

Attention runs through ``nn.TransformerEncoderLayer`` and so PyTorch's
``scaled_dot_product_attention`` (flash or memory-efficient kernels on CUDA, under bf16 autocast:
``training.precision: auto`` picks bf16 for this model on bf16-capable GPUs).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from core.config import ModelConfig
from core.models.layers import Head, pool, valid_mask
from core.models.registry import register_builtin

__all__ = ["TransformerClassifier", "sinusoidal_positions"]


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """[length, dim] fixed encodings of Vaswani et al. (2017): sin on even, cos on odd columns."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    out = torch.zeros(length, dim)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return out


class TransformerClassifier(nn.Module):
    """``x`` [B, T, F] and ``lengths`` [B] (or None) -> [B, num_outputs].

    Inputs are projected to ``hidden_size``, positions added (``positions``: sinusoidal or learned
    up to ``max_len`` steps), ``num_layers`` pre-norm encoder layers (``num_heads`` heads,
    feed-forward width ``ff_size`` or 4 * hidden_size, GELU, ``dropout``) and a final LayerNorm
    follow, then pooling: ``cls`` (a learned token prepended to every sequence), or ``last``,
    ``mean`` and ``max`` over valid steps. Steps at or beyond ``lengths[i]`` are masked as keys.
    """

    def __init__(self, cfg: ModelConfig, num_features: int, num_outputs: int):
        super().__init__()
        d = cfg.hidden_size
        self.pooling = cfg.pooling
        self.positions = cfg.positions
        self.max_len = cfg.max_len
        self.proj = nn.Linear(num_features, d)
        if cfg.positions == "learned":
            self.pos = nn.Parameter(torch.zeros(cfg.max_len, d))
            nn.init.normal_(self.pos, std=0.02)
        else:
            # Not saved: rebuilt for the longest batch seen, so checkpoints stay the same size.
            self.register_buffer("pos", sinusoidal_positions(256, d), persistent=False)
        self.cls = nn.Parameter(torch.zeros(1, 1, d)) if cfg.pooling == "cls" else None
        if self.cls is not None:
            nn.init.normal_(self.cls, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d, cfg.num_heads, dim_feedforward=cfg.ff_size or 4 * d, dropout=cfg.dropout,
            activation="gelu", batch_first=True, norm_first=True)
        # Nested tensors (the inference fast path) need post-norm layers and sync with the host.
        self.encoder = nn.TransformerEncoder(layer, cfg.num_layers, norm=nn.LayerNorm(d),
                                             enable_nested_tensor=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = Head(d, cfg, num_outputs)

    def _positions(self, t_len: int, like: torch.Tensor) -> torch.Tensor:
        if self.positions == "learned":
            if t_len > self.max_len:
                raise ValueError(f"model.max_len: sequences of {t_len} steps, but learned "
                                 f"positions cover {self.max_len}")
            return self.pos[:t_len]
        if t_len > self.pos.shape[0]:
            self.pos = sinusoidal_positions(t_len, self.pos.shape[1]).to(like.device)
        return self.pos[:t_len]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        b, t_len, _ = x.shape
        h = self.proj(x) + self._positions(t_len, x).to(x.dtype)
        pad = None if lengths is None else ~valid_mask(lengths, t_len)  # True: ignored key
        if self.cls is not None:
            h = torch.cat([self.cls.expand(b, -1, -1).to(h.dtype), h], dim=1)
            if pad is not None:
                pad = torch.cat([pad.new_zeros(b, 1), pad], dim=1)
        h = self.encoder(self.drop(h), src_key_padding_mask=pad)
        if self.cls is not None:
            return self.head(h[:, 0])
        return self.head(pool(h, lengths, self.pooling))


@register_builtin("transformer")
def _transformer(cfg: ModelConfig, num_features: int, num_outputs: int) -> nn.Module:
    return TransformerClassifier(cfg, num_features, num_outputs)
