"""Temporal convolutional network (``tcn``)."""

from __future__ import annotations

import torch
from torch import nn

from core.config import ModelConfig
from core.models.layers import Head, pool
from core.models.registry import register_builtin

__all__ = ["TCNClassifier"]


class _CausalBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, dilation=dilation)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        h = self.drop(torch.relu(self.conv1(nn.functional.pad(x, (self.pad, 0)))))
        h = self.drop(torch.relu(self.conv2(nn.functional.pad(h, (self.pad, 0)))))
        return torch.relu(h + self.skip(x))


class TCNClassifier(nn.Module):
    """Residual blocks of dilated causal convolutions: ``x`` [B, T, F] -> [B, num_outputs].

    Causality makes step t depend on steps <= t only, so padding after a sequence's end cannot
    change its output at ``lengths - 1`` or any earlier step.
    """

    def __init__(self, cfg: ModelConfig, num_features: int, num_outputs: int):
        super().__init__()
        blocks, c_in = [], num_features
        for i in range(cfg.num_layers):
            blocks.append(_CausalBlock(c_in, cfg.hidden_size, cfg.kernel_size, 2**i, cfg.dropout))
            c_in = cfg.hidden_size
        self.blocks = nn.Sequential(*blocks)
        self.pooling = cfg.pooling
        self.head = Head(cfg.hidden_size, cfg, num_outputs)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(x.transpose(1, 2)).transpose(1, 2)
        return self.head(pool(h, lengths, self.pooling))


@register_builtin("tcn")
def _tcn(cfg: ModelConfig, num_features: int, num_outputs: int) -> nn.Module:
    return TCNClassifier(cfg, num_features, num_outputs)
