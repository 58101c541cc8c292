"""Residual network (``resnet``) for time-series classification and regression.

Wang, Yan and Oates, "Time series classification from scratch with deep neural networks: a
strong baseline", IJCNN 2017; reviewed by Ismail Fawaz et al., DMKD 2019, where it was the
strongest of nine deep models. Reference implementation: hfawaz/dl-4-tsc,
``classifiers/resnet.py`` (Keras): three residual blocks of 64, 128 and 128 filters, each three
convolutions of widths 8, 5 and 3 ("same" padding) with BatchNorm (ReLU after the first two),
a shortcut (1x1 convolution and BatchNorm when the channels change, BatchNorm alone when they do
not) added before the block's ReLU; global average pooling and a dense softmax layer. Trained
with Adam (lr 0.001), batches of min(64, N/10), 1,500 epochs, ReduceLROnPlateau on the training
loss (factor 0.5, patience 50, min lr 1e-4): ``configs/resnet.yaml``.

Deliberate differences: padded steps are excluded (``core.models.masked``); BatchNorm uses
PyTorch's momentum 0.1 and eps 1e-5 (Keras: 0.01 and 1e-3); ``model.depth`` adds blocks of
2 * filters and ``model.residual: false`` drops the shortcuts (the paper has neither knob); the
head is ``core.models.layers.Head`` with the task's outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from core.config import ModelConfig
from core.models.layers import Head
from core.models.masked import MaskedBatchNorm1d, SameConv1d, masked_mean, step_mask
from core.models.registry import register_builtin

__all__ = ["ResNet", "RESNET_KERNELS", "RESNET_FILTERS", "RESNET_DEPTH"]

RESNET_KERNELS = (8, 5, 3)
RESNET_FILTERS = 64
RESNET_DEPTH = 3


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernels: list[int], residual: bool):
        super().__init__()
        self.convs = nn.ModuleList(SameConv1d(c_in if i == 0 else c_out, c_out, k)
                                   for i, k in enumerate(kernels))
        self.norms = nn.ModuleList(MaskedBatchNorm1d(c_out) for _ in kernels)
        self.residual = residual
        if residual:
            self.short_conv = SameConv1d(c_in, c_out, 1) if c_in != c_out else None
            self.short_norm = MaskedBatchNorm1d(c_out)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        h = x
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            h = norm(conv(h, mask), mask)
            if i < last:
                h = torch.relu(h)
        if self.residual:
            s = self.short_conv(x, mask) if self.short_conv is not None else x
            h = h + self.short_norm(s, mask)
        return torch.relu(h)


class ResNet(nn.Module):
    """``x`` [B, T, F] and ``lengths`` [B] (or None) -> [B, num_outputs]."""

    def __init__(self, cfg: ModelConfig, num_features: int, num_outputs: int):
        super().__init__()
        kernels = list(cfg.kernel_sizes or RESNET_KERNELS)
        f = cfg.filters or RESNET_FILTERS
        blocks, c_in = [], num_features
        for i in range(cfg.depth or RESNET_DEPTH):
            c_out = f if i == 0 else 2 * f
            blocks.append(_Block(c_in, c_out, kernels, cfg.residual))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = Head(c_in, cfg, num_outputs)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = x.transpose(1, 2)
        mask = step_mask(lengths, h.shape[2], h.dtype)
        for block in self.blocks:
            h = block(h, mask)
        return self.head(masked_mean(h, mask))


@register_builtin("resnet")
def _resnet(cfg: ModelConfig, num_features: int, num_outputs: int) -> nn.Module:
    return ResNet(cfg, num_features, num_outputs)
