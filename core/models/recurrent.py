"""GRU and LSTM encoders (``gru``, ``lstm``) with a pooled head."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from core.config import ModelConfig
from core.models.layers import Head, pool
from core.models.registry import register_builtin

__all__ = ["RNNClassifier"]


class RNNClassifier(nn.Module):
    """GRU or LSTM encoder with a pooled output head: ``x`` [B, T, F] -> [B, num_outputs].

    Unidirectional models read padded batches directly (padding follows the valid steps, so the
    output at ``lengths - 1`` is exact, with no host sync); bidirectional ones pack the batch so
    the backward direction starts at each sequence's true end.
    """

    def __init__(self, cell: type[nn.RNNBase], cfg: ModelConfig, num_features: int,
                 num_outputs: int):
        super().__init__()
        self.rnn = cell(num_features, cfg.hidden_size, num_layers=cfg.num_layers,
                        dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
                        bidirectional=cfg.bidirectional, batch_first=True)
        self.pooling = cfg.pooling
        self.bidirectional = cfg.bidirectional
        self.head = Head(cfg.hidden_size * (2 if cfg.bidirectional else 1), cfg, num_outputs)

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


@register_builtin("gru")
def _gru(cfg: ModelConfig, num_features: int, num_outputs: int) -> nn.Module:
    return RNNClassifier(nn.GRU, cfg, num_features, num_outputs)


@register_builtin("lstm")
def _lstm(cfg: ModelConfig, num_features: int, num_outputs: int) -> nn.Module:
    return RNNClassifier(nn.LSTM, cfg, num_features, num_outputs)
