"""Convolution parts that stay exact on zero-padded batches of variable-length sequences.

Used by the convolutional families (``fcn``, ``resnet``, ``inception_time``). Tensors are
channels-first, ``[B, C, T]``; ``mask`` is ``[B, 1, T]`` float, 1 at each sequence's valid steps
and 0 beyond them, or None when every sequence spans all ``T`` steps. Everything here is
multiplicative masking or ``torch.where`` on fixed shapes: no data-dependent shapes and no host
synchronisation, so a training step with these layers can be captured as a CUDA graph.

Why a padded batch gives each sequence the output it would get alone:

- ``SameConv1d`` zeroes the padded steps of its input before a "same" convolution, so a valid
  step near a sequence's end reads zeros beyond it, as the sequence's own zero padding would.
- ``MaskedBatchNorm1d`` in training computes the batch mean and variance over valid steps only
  and updates its running statistics from them; in eval mode it is the usual affine map.
- ``masked_max_pool`` fills padded steps with the dtype's lowest value before pooling (as a
  "same" max pool pads with -inf) and zeroes them after.
- ``masked_mean`` is global average pooling over valid steps.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["step_mask", "SameConv1d", "MaskedBatchNorm1d", "masked_max_pool", "masked_mean"]


def step_mask(lengths: torch.Tensor | None, t_len: int, dtype: torch.dtype) -> torch.Tensor | None:
    """[B, 1, T] of 1.0 at valid steps and 0.0 beyond each length, or None without lengths."""
    if lengths is None:
        return None
    valid = torch.arange(t_len, device=lengths.device)[None, :] < lengths[:, None]
    return valid.unsqueeze(1).to(dtype)


class SameConv1d(nn.Conv1d):
    """``nn.Conv1d`` with Keras's ``padding='same'`` (stride 1): ``(k - 1) // 2`` zeros on the left,
    the rest on the right (even kernels pad one more on the right, as TensorFlow does), after the
    input's padded steps are zeroed. ``[B, C_in, T] -> [B, C_out, T]``."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, bias: bool = True):
        super().__init__(c_in, c_out, kernel_size, bias=bias)
        self.pads = ((kernel_size - 1) // 2, kernel_size - 1 - (kernel_size - 1) // 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            x = x * mask.to(x.dtype)
        if self.pads != (0, 0):
            x = F.pad(x, self.pads)
        return super().forward(x)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over channels whose training statistics ignore padded steps.

    Training with a mask: mean and (biased) variance over the valid steps of the batch normalise
    it; the running statistics move towards that mean and the unbiased variance, with
    ``momentum`` as ``nn.BatchNorm1d`` does. The statistics are computed in float32 (also under
    autocast). Without a mask, or in eval mode, it is ``nn.BatchNorm1d``. ``[B, C, T] -> [B, C,
    T]``; padded steps of the output hold values that the next masked layer discards.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None or not self.training:
            return super().forward(x)
        xf = x.float()
        m = mask.float()
        n = m.sum((0, 2)).clamp(min=1.0)  # [1]: valid steps in the batch
        mean = (xf * m).sum((0, 2)) / n
        centred = xf - mean[None, :, None]
        var = (centred.square() * m).sum((0, 2)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                mom = self.momentum if self.momentum is not None else \
                    1.0 / self.num_batches_tracked.float()
                unbiased = var * n / (n - 1).clamp(min=1.0)
                self.running_mean.mul_(1 - mom).add_(mom * mean)
                self.running_var.mul_(1 - mom).add_(mom * unbiased)
        y = centred * torch.rsqrt(var + self.eps)[None, :, None]
        if self.affine:
            y = y * self.weight[None, :, None] + self.bias[None, :, None]
        return y


def masked_max_pool(x: torch.Tensor, mask: torch.Tensor | None, kernel_size: int = 3
                    ) -> torch.Tensor:
    """Max pool of stride 1 and "same" length, padded steps excluded: ``[B, C, T] -> [B, C, T]``
    (zero at padded steps). ``kernel_size`` must be odd."""
    pad = kernel_size // 2
    if mask is None:
        return F.max_pool1d(x, kernel_size, stride=1, padding=pad)
    valid = mask.to(torch.bool)
    low = torch.finfo(x.dtype).min
    y = F.max_pool1d(torch.where(valid, x, low), kernel_size, stride=1, padding=pad)
    return torch.where(valid, y, torch.zeros((), dtype=y.dtype, device=y.device))


def masked_mean(h: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Global average pooling over each sequence's valid steps: ``[B, C, T] -> [B, C]``."""
    if mask is None:
        return h.mean(2)
    m = mask.to(h.dtype)
    return (h * m).sum(2) / m.sum(2).clamp(min=1.0)
