"""Fully convolutional network (``fcn``) for time-series classification and regression.

Wang, Yan and Oates, "Time series classification from scratch with deep neural networks: a
strong baseline", IJCNN 2017; reviewed by Ismail Fawaz et al., "Deep learning for time series
classification: a review", DMKD 2019. Reference implementation: hfawaz/dl-4-tsc,
``classifiers/fcn.py`` (Keras): three convolutions of 128, 256 and 128 filters and widths 8, 5
and 3 ("same" padding), each followed by BatchNorm and ReLU, global average pooling and a dense
softmax layer; trained with Adam (lr 0.001), batches of min(16, N/10), 2,000 epochs and
ReduceLROnPlateau on the training loss (factor 0.5, patience 50, min lr 1e-4):
``configs/fcn.yaml``.

Deliberate differences: padded steps are excluded (``core.models.masked``); BatchNorm uses
PyTorch's momentum 0.1 and eps 1e-5 (Keras: 0.01 and 1e-3), which settles faster on the few
optimizer steps of small data; the head is ``core.models.layers.Head`` (linear by default, one
output per class, or the task's outputs: binary 1 logit, multilabel K, regression D).
"""

from __future__ import annotations

import torch
from torch import nn

from core.config import ModelConfig
from core.models.layers import Head
from core.models.masked import MaskedBatchNorm1d, SameConv1d, masked_mean, step_mask
from core.models.registry import register_builtin

__all__ = ["FCN", "FCN_KERNELS", "FCN_FILTERS"]

FCN_KERNELS = (8, 5, 3)
FCN_FILTERS = 128


def fcn_widths(filters: int, layers: int) -> list[int]:
    """Filters per layer: the first and last ``filters``, the middle ones twice as many."""
    return [filters if i in (0, layers - 1) else 2 * filters for i in range(layers)]


class FCN(nn.Module):
    """``x`` [B, T, F] and ``lengths`` [B] (or None) -> [B, num_outputs]."""

    def __init__(self, cfg: ModelConfig, num_features: int, num_outputs: int):
        super().__init__()
        kernels = list(cfg.kernel_sizes or FCN_KERNELS)
        widths = fcn_widths(cfg.filters or FCN_FILTERS, len(kernels))
        c_in, convs, norms = num_features, [], []
        for k, w in zip(kernels, widths, strict=True):
            convs.append(SameConv1d(c_in, w, k))
            norms.append(MaskedBatchNorm1d(w))
            c_in = w
        self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
        self.head = Head(c_in, cfg, num_outputs)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = x.transpose(1, 2)
        mask = step_mask(lengths, h.shape[2], h.dtype)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = torch.relu(norm(conv(h, mask), mask))
        return self.head(masked_mean(h, mask))


@register_builtin("fcn")
def _fcn(cfg: ModelConfig, num_features: int, num_outputs: int) -> nn.Module:
    return FCN(cfg, num_features, num_outputs)
