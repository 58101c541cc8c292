"""Sequence classifiers behind a small registry: ``gru``, ``lstm`` and ``tcn``.

Every model maps ``x`` [B, T, F] and optional ``lengths`` [B] to logits [B, K]. With ``lengths``,
outputs depend only on each sequence's first ``lengths[i]`` steps: padding never leaks in.

Example:
    >>> from core.config import ModelConfig
    >>> model = build_model(ModelConfig(name="gru", hidden_size=16), num_features=3, num_classes=4)
    >>> model(torch.zeros(2, 10, 3)).shape
    torch.Size([2, 4])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from core.config import ModelConfig

__all__ = ["MODELS", "register", "build_model", "count_parameters"]

MODELS: dict[str, Callable[[ModelConfig, int, int], nn.Module]] = {}


def register(name: str):
    """Adds a model builder ``fn(cfg, num_features, num_classes) -> nn.Module`` to the registry."""

    def deco(fn):
        MODELS[name] = fn
        return fn

    return deco


def build_model(cfg: ModelConfig, num_features: int, num_classes: int) -> nn.Module:
    if cfg.name not in MODELS:
        raise ValueError(f"model.name: unknown model {cfg.name!r} (known: {', '.join(MODELS)})")
    return MODELS[cfg.name](cfg, num_features, num_classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _valid_mask(lengths: torch.Tensor, t_len: int) -> torch.Tensor:
    return torch.arange(t_len, device=lengths.device)[None, :] < lengths[:, None]


def pool(h: torch.Tensor, lengths: torch.Tensor | None, how: str) -> torch.Tensor:
    """Summarises per-step features ``h`` [B, T, H] over each sequence's valid steps."""
    if how == "last":
        if lengths is None:
            return h[:, -1]
        idx = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, h.shape[-1])
        return h.gather(1, idx).squeeze(1)
    if lengths is None:
        return h.mean(1) if how == "mean" else h.amax(1)
    mask = _valid_mask(lengths, h.shape[1]).unsqueeze(-1)
    if how == "mean":
        return (h * mask).sum(1) / lengths.clamp(min=1).view(-1, 1).to(h.dtype)
    return h.masked_fill(~mask, torch.finfo(h.dtype).min).amax(1)


class Head(nn.Module):
    """Optional LayerNorm, optional hidden layer, dropout and the output layer."""

    def __init__(self, in_features: int, cfg: ModelConfig, num_classes: int):
        super().__init__()
        layers: list[nn.Module] = [nn.LayerNorm(in_features)] if cfg.layer_norm else []
        if cfg.head_hidden:
            layers += [nn.Linear(in_features, cfg.head_hidden), nn.GELU()]
            in_features = cfg.head_hidden
        layers += [nn.Dropout(cfg.head_dropout), nn.Linear(in_features, num_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class RNNClassifier(nn.Module):
    """GRU or LSTM encoder with a pooled classification head.

    Unidirectional models read padded batches directly (padding follows the valid steps, so the
    output at ``lengths - 1`` is exact, with no host sync); bidirectional ones pack the batch so
    the backward direction starts at each sequence's true end.
    """

    def __init__(self, cell: type[nn.RNNBase], cfg: ModelConfig, num_features: int,
                 num_classes: int):
        super().__init__()
        self.rnn = cell(num_features, cfg.hidden_size, num_layers=cfg.num_layers,
                        dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
                        bidirectional=cfg.bidirectional, batch_first=True)
        self.pooling = cfg.pooling
        self.bidirectional = cfg.bidirectional
        self.head = Head(cfg.hidden_size * (2 if cfg.bidirectional else 1), cfg, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is not None and self.bidirectional:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            if self.pooling == "last":
                hidden = h.shape[-1] // 2
                fwd = pool(h[..., :hidden], lengths, "last")
                return self.head(torch.cat([fwd, h[:, 0, hidden:]], dim=-1))
        else:
            h, _ = self.rnn(x)
            if self.pooling == "last" and self.bidirectional:
                hidden = h.shape[-1] // 2
                return self.head(torch.cat([h[:, -1, :hidden], h[:, 0, hidden:]], dim=-1))
        return self.head(pool(h, lengths, self.pooling))


@register("gru")
def _gru(cfg: ModelConfig, num_features: int, num_classes: int) -> nn.Module:
    return RNNClassifier(nn.GRU, cfg, num_features, num_classes)


@register("lstm")
def _lstm(cfg: ModelConfig, num_features: int, num_classes: int) -> nn.Module:
    return RNNClassifier(nn.LSTM, cfg, num_features, num_classes)


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
    """Temporal convolutional network: residual blocks of dilated causal convolutions.

    Causality makes step t depend on steps <= t only, so padding after a sequence's end cannot
    change its output at ``lengths - 1`` or any earlier step.
    """

    def __init__(self, cfg: ModelConfig, num_features: int, num_classes: int):
        super().__init__()
        blocks, c_in = [], num_features
        for i in range(cfg.num_layers):
            blocks.append(_CausalBlock(c_in, cfg.hidden_size, cfg.kernel_size, 2**i, cfg.dropout))
            c_in = cfg.hidden_size
        self.blocks = nn.Sequential(*blocks)
        self.pooling = cfg.pooling
        self.head = Head(cfg.hidden_size, cfg, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(x.transpose(1, 2)).transpose(1, 2)
        return self.head(pool(h, lengths, self.pooling))


@register("tcn")
def _tcn(cfg: ModelConfig, num_features: int, num_classes: int) -> nn.Module:
    return TCNClassifier(cfg, num_features, num_classes)
