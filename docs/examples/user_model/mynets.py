"""A user model for seqtune: model.name: mynets:ConvGRU (docs/models.md)."""

import torch
from torch import nn


class ConvGRU(nn.Module):
    """Causal convolution, then a GRU: x [B, T, F] and lengths [B] (or None) -> [B, num_outputs]."""

    def __init__(self, num_features: int, num_outputs: int, channels: int = 32,
                 hidden: int = 64, kernel: int = 5):
        super().__init__()
        self.conv = nn.Conv1d(num_features, channels, kernel, padding=kernel - 1)
        self.gru = nn.GRU(channels, hidden, batch_first=True)
        self.out = nn.Linear(hidden, num_outputs)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # Keep the first T outputs: step t sees steps <= t, so padding never leaks in.
        h = torch.relu(self.conv(x.transpose(1, 2)))[..., : x.shape[1]]
        h, _ = self.gru(h.transpose(1, 2))
        if lengths is None:
            return self.out(h[:, -1])
        return self.out(h[torch.arange(h.shape[0], device=h.device), lengths - 1])
