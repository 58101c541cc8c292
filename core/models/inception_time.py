"""InceptionTime (``inception_time``): one network of the paper's ensemble of five.

Ismail Fawaz, Lucas, Forestier, Pelletier, Schmidt, Weber, Webb, Idoumghar, Muller and
Petitjean, "InceptionTime: finding AlexNet for time series classification", DMKD 2020.
Reference implementation: hfawaz/InceptionTime, ``classifiers/inception.py`` (Keras): six
inception modules; each passes its input through a 1x1 bottleneck of 32 filters (skipped when
the input has one channel), three convolutions of 32 filters and widths 40, 20 and 10 in
parallel (no bias, "same" padding), and in a fourth branch a max pool of width 3 then a 1x1
convolution of 32 filters; the four are concatenated (128 channels), then BatchNorm and ReLU. A
shortcut (1x1 convolution without bias and BatchNorm) from the input of every third module is
added after it, then ReLU. Global average pooling and a dense softmax layer. Trained with Adam
(lr 0.001), batches of 64, 1,500 epochs, ReduceLROnPlateau on the training loss (factor 0.5,
patience 50, min lr 1e-4): ``configs/inception_time.yaml``. The paper's InceptionTime is the
average of five such networks' probabilities; ``benchmarks/zoo_fidelity.py`` averages seeds.

Deliberate differences: padded steps are excluded (``core.models.masked``; the max pool ignores
them as Keras's "same" max pool ignores its padding); BatchNorm uses PyTorch's momentum 0.1 and
eps 1e-5 (Keras: 0.01 and 1e-3); the head is ``core.models.layers.Head`` with the task's
outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from core.config import ModelConfig
from core.models.layers import Head
from core.models.masked import (
    MaskedBatchNorm1d,
    SameConv1d,
    masked_max_pool,
    masked_mean,
    step_mask,
)
from core.models.registry import register_builtin

__all__ = ["InceptionTime", "INCEPTION_KERNELS", "INCEPTION_FILTERS", "INCEPTION_DEPTH",
           "INCEPTION_BOTTLENECK"]

INCEPTION_KERNELS = (40, 20, 10)
INCEPTION_FILTERS = 32
INCEPTION_DEPTH = 6
INCEPTION_BOTTLENECK = 32


class _Module(nn.Module):
    def __init__(self, c_in: int, filters: int, kernels: list[int], bottleneck: int):
        super().__init__()
        use_bottleneck = bottleneck > 0 and c_in > 1
        self.bottleneck = SameConv1d(c_in, bottleneck, 1, bias=False) if use_bottleneck \
            else None
        b_in = bottleneck if use_bottleneck else c_in
        self.branches = nn.ModuleList(SameConv1d(b_in, filters, k, bias=False) for k in kernels)
        self.pool_conv = SameConv1d(c_in, filters, 1, bias=False)
        self.norm = MaskedBatchNorm1d(filters * (len(kernels) + 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b = self.bottleneck(x, mask) if self.bottleneck is not None else x
        outs = [conv(b, mask) for conv in self.branches]
        outs.append(self.pool_conv(masked_max_pool(x, mask, 3)))
        return torch.relu(self.norm(torch.cat(outs, 1), mask))


class _Shortcut(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = SameConv1d(c_in, c_out, 1, bias=False)
        self.norm = MaskedBatchNorm1d(c_out)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.norm(self.conv(x, mask), mask)


class InceptionTime(nn.Module):
    """``x`` [B, T, F] and ``lengths`` [B] (or None) -> [B, num_outputs]."""

    def __init__(self, cfg: ModelConfig, num_features: int, num_outputs: int):
        super().__init__()
        kernels = list(cfg.kernel_sizes or INCEPTION_KERNELS)
        filters = cfg.filters or INCEPTION_FILTERS
        bottleneck = INCEPTION_BOTTLENECK if cfg.bottleneck is None else cfg.bottleneck
        width = filters * (len(kernels) + 1)
        modules, shortcuts, c_in, res_in = [], {}, num_features, num_features
        for d in range(cfg.depth or INCEPTION_DEPTH):
            modules.append(_Module(c_in, filters, kernels, bottleneck))
            c_in = width
            if cfg.residual and d % 3 == 2:
                shortcuts[str(d)] = _Shortcut(res_in, width)
                res_in = width
        self.modules_ = nn.ModuleList(modules)
        self.shortcuts = nn.ModuleDict(shortcuts)
        self.head = Head(width, cfg, num_outputs)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = x.transpose(1, 2)
        mask = step_mask(lengths, h.shape[2], h.dtype)
        res = h
        for d, module in enumerate(self.modules_):
            h = module(h, mask)
            if str(d) in self.shortcuts:
                h = torch.relu(h + self.shortcuts[str(d)](res, mask))
                res = h
        return self.head(masked_mean(h, mask))


@register_builtin("inception_time")
def _inception_time(cfg: ModelConfig, num_features: int, num_outputs: int) -> nn.Module:
    return InceptionTime(cfg, num_features, num_outputs)
