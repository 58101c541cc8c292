"""MiniRocket (``minirocket``): fixed convolutional features and a linear head the loop trains.

Dempster, Schmidt and Webb, "MiniRocket: a very fast (almost) deterministic transform for time
series classification", KDD 2021. Reference implementation: angus924/minirocket,
``code/minirocket.py`` and ``code/minirocket_multivariate.py`` (the multivariate one reduces to
the univariate one for a single channel), and for variable lengths sktime/aeon's
``MiniRocketMultivariateVariable``.

The transform, as in the reference:

- 84 kernels of length 9, weights -1 with 2 at three of the nine positions (every choice of
  three), no trainable parameter;
- dilations ``floor(2 ** logspace(0, log2((L - 1) / 8), min(features per kernel, 32)))``, unique,
  each with features in proportion to how often it occurred (``_fit_dilations``), ``L`` the
  longest training series;
- per (dilation, kernel) a random subset of 1 to min(F, 9) channels whose convolutions are
  summed (multivariate only);
- biases: quantiles (a golden-ratio low-discrepancy sequence) of the convolution output of a
  randomly chosen training series, per (dilation, kernel);
- features: PPV, the proportion of positive values of ``C - bias``, over the whole output for
  half the (dilation, kernel) pairs and over the part not touched by zero padding for the other
  half (alternating, ``(dilation index + kernel index) % 2``).

Differences, deliberate:

- The random choices (series for the biases, channel subsets) come from a NumPy generator
  seeded with ``experiment.seed`` (``fit_data``), not NumPy's global state, so a run, its resume
  and its exported config's retrain fit the same biases.
- The features are standardised with the training set's mean and standard deviation per feature
  (1 where the standard deviation is 0), as the reference's logistic-regression variant does
  (``softmax.py``) before its linear layer; the linear head (``core.models.layers.Head``) is then
  trained by the loop with the task's loss and optimizer instead of a ridge classifier.
- Variable lengths: each series' convolution is zero-padded at its own length and its PPV counts
  its own valid positions (as ``MiniRocketMultivariateVariable``); a part without any position
  (a series shorter than a dilated kernel) has PPV 0. Series shorter than 9 steps use dilation
  1 only (the reference needs at least 9 steps).

Features are recomputed for every batch rather than once per data set: nothing trainable
precedes them, so a cache would give the same numbers, but computing them in ``forward`` keeps
the model a plain module from series to logits (validation, test, export, prediction on new
data and CUDA-graph capture work unchanged) and costs little on a GPU (docs/performance.md).
The transform runs in float32 with gradients off, also under autocast.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.config import ModelConfig
from core.models.layers import Head
from core.models.registry import register_builtin

__all__ = ["MiniRocket", "NUM_KERNELS", "fit_dilations", "quantiles"]

NUM_KERNELS = 84
KERNEL_LENGTH = 9
_COMPARE_ELEMENTS = 2**26  # comparisons held at once by features(): 64 MB of booleans
_INDICES = np.array(list(combinations(range(KERNEL_LENGTH), 3)), dtype=np.int64)  # [84, 3]


def fit_dilations(input_length: int, num_features: int, max_dilations: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The reference's ``_fit_dilations``: (dilations, features per kernel at each dilation)."""
    per_kernel = num_features // NUM_KERNELS
    true_max = min(per_kernel, max_dilations)
    multiplier = per_kernel / true_max
    max_exponent = max(0.0, math.log2(max(input_length - 1, 1) / (KERNEL_LENGTH - 1)))
    dilations, counts = np.unique(
        np.logspace(0, max_exponent, true_max, base=2).astype(np.int32), return_counts=True)
    counts = (counts * multiplier).astype(np.int32)
    remainder = per_kernel - int(counts.sum())
    i = 0
    while remainder > 0:
        counts[i] += 1
        remainder -= 1
        i = (i + 1) % len(counts)
    return dilations.astype(np.int64), counts.astype(np.int64)


def quantiles(n: int) -> np.ndarray:
    """The reference's ``_quantiles``: ``(i * golden ratio) % 1`` for i = 1..n, float32."""
    return np.array([(i * ((np.sqrt(5) + 1) / 2)) % 1 for i in range(1, n + 1)],
                    dtype=np.float32)


class MiniRocket(nn.Module):
    """``x`` [B, T, F] and ``lengths`` [B] (or None) -> [B, num_outputs].

    ``fit_data`` must run first (``core.loop.fit`` calls it with the training split before the
    first epoch; a resumed run loads the fitted buffers from its checkpoint instead).
    """

    def __init__(self, cfg: ModelConfig, num_features: int, num_outputs: int):
        super().__init__()
        per_kernel = cfg.rocket_features // NUM_KERNELS
        self.num_channels = num_features
        self.num_features = NUM_KERNELS * per_kernel
        self.max_dilations = max_dil = min(per_kernel, cfg.rocket_max_dilations)
        weights = -torch.ones(NUM_KERNELS, 1, KERNEL_LENGTH)
        weights.scatter_(2, torch.from_numpy(_INDICES).unsqueeze(1), 2.0)
        self.register_buffer("weights", weights)
        # Fitted by fit_data; fixed shapes so that a checkpoint loads into a fresh model.
        self.register_buffer("dilations", torch.zeros(max_dil, dtype=torch.long))
        self.register_buffer("features_per_dilation", torch.zeros(max_dil, dtype=torch.long))
        self.register_buffer("channel_mask", torch.zeros(max_dil, NUM_KERNELS, num_features))
        self.register_buffer("biases", torch.zeros(self.num_features))
        self.register_buffer("feature_mean", torch.zeros(self.num_features))
        self.register_buffer("feature_std", torch.ones(self.num_features))
        self._plan: list[tuple[int, int]] | None = None  # (dilation, features per kernel)
        self.register_load_state_dict_post_hook(lambda module, _keys: module._sync_plan())
        self.head = Head(self.num_features, cfg, num_outputs)

    def _sync_plan(self) -> None:
        """The Python-side plan from the buffers (one host read, at fit or load time)."""
        dil = self.dilations.tolist()
        counts = self.features_per_dilation.tolist()
        self._plan = [(d, n) for d, n in zip(dil, counts, strict=True) if d > 0] or None

    def _conv(self, x: torch.Tensor, index: int, dilation: int) -> torch.Tensor:
        """Each kernel's convolution summed over its channels: [B, F, T] -> [B, 84, T]."""
        pad = (KERNEL_LENGTH - 1) * dilation // 2
        if self.num_channels == 1:
            return F.conv1d(x, self.weights, dilation=dilation, padding=pad)
        b, f, t = x.shape
        out = F.conv1d(x, self.weights.repeat(f, 1, 1), dilation=dilation, padding=pad,
                       groups=f).view(b, f, NUM_KERNELS, t)
        return torch.einsum("bfkt,kf->bkt", out, self.channel_mask[index])

    def _conv_own(self, x: torch.Tensor, index: int, dilation: int) -> torch.Tensor:
        """Kernel k on series k alone: [84, F, T] -> [84, T] (one grouped convolution)."""
        pad = (KERNEL_LENGTH - 1) * dilation // 2
        n, f, t = x.shape
        out = F.conv1d(x.reshape(1, n * f, t), self.weights.repeat_interleave(f, 0),
                       dilation=dilation, padding=pad, groups=n * f).view(n, f, t)
        if f == 1:
            return out[:, 0]
        return (out * self.channel_mask[index][:, :, None]).sum(1)

    @torch.no_grad()
    def fit_data(self, x: torch.Tensor, lengths: torch.Tensor | None, seed: int) -> None:
        """Fits dilations, channel subsets, biases and the feature standardisation on training
        series ``x`` [N, T, F] (``lengths`` [N] valid steps, or None), seeded by ``seed``."""
        n, t_len, f = x.shape
        if f != self.num_channels:
            raise ValueError(f"minirocket was built for {self.num_channels} channels; fit_data "
                             f"got {f}")
        rng = np.random.Generator(np.random.PCG64(seed))
        dev = self.biases.device
        x = x.to(dev, torch.float32)
        if lengths is not None:
            lengths = lengths.to(dev)
            x = x * (torch.arange(t_len, device=dev)[None, :] < lengths[:, None]).unsqueeze(-1)
        dilations, counts = fit_dilations(t_len, self.num_features, self.max_dilations)
        qs = torch.from_numpy(quantiles(self.num_features)).to(dev)
        n_comb = NUM_KERNELS * len(dilations)
        max_exponent = math.log2(min(f, 9) + 1)
        n_channels = (2 ** rng.uniform(0, max_exponent, n_comb)).astype(np.int64)
        mask = torch.zeros_like(self.channel_mask)
        for c in range(n_comb):
            chosen = rng.choice(f, int(n_channels[c]), replace=False)
            mask[c // NUM_KERNELS, c % NUM_KERNELS, torch.from_numpy(chosen).to(dev)] = 1.0
        self.channel_mask.copy_(mask)
        self.dilations.zero_()
        self.features_per_dilation.zero_()
        self.dilations[:len(dilations)] = torch.from_numpy(dilations)
        self.features_per_dilation[:len(counts)] = torch.from_numpy(counts)
        examples = torch.from_numpy(rng.integers(0, n, n_comb)).to(dev)
        xt = x.transpose(1, 2)  # [N, F, T]
        biases = torch.empty(self.num_features, device=dev)
        start = 0
        for i, (d, n_f) in enumerate(zip(dilations.tolist(), counts.tolist(), strict=True)):
            rows = examples[i * NUM_KERNELS:(i + 1) * NUM_KERNELS]
            c_own = self._conv_own(xt[rows], i, d)  # kernel k on its own series k: [84, T]
            valid = t_len if lengths is None else lengths[rows].tolist()
            for k in range(NUM_KERNELS):
                row = c_own[k, :valid if isinstance(valid, int) else valid[k]]
                biases[start:start + n_f] = torch.quantile(row, qs[start:start + n_f])
                start += n_f
        self.biases.copy_(biases)
        self.feature_mean.zero_()
        self.feature_std.fill_(1.0)
        self._sync_plan()
        feats = torch.cat([self.features(x[i:i + 256], None if lengths is None else
                                         lengths[i:i + 256]) for i in range(0, n, 256)])
        std = feats.std(0, unbiased=False)
        self.feature_mean.copy_(feats.mean(0))
        self.feature_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Standardised PPV features: ``x`` [B, T, F] -> [B, num_features] float32."""
        if self._plan is None:
            raise RuntimeError("minirocket: the transform is not fitted; call "
                               "fit_data(x, lengths, seed) with the training series first "
                               "(core.loop.fit does)")
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            xt = x.float().transpose(1, 2)  # [B, F, T]
            b, _, t_len = xt.shape
            steps = torch.arange(t_len, device=x.device)
            length = torch.full((b,), t_len, device=x.device) if lengths is None else lengths
            if lengths is not None:
                xt = xt * (steps[None, :] < lengths[:, None]).unsqueeze(1)
            parity = torch.arange(NUM_KERNELS, device=x.device) % 2
            out, start = [], 0
            for i, (d, n_f) in enumerate(self._plan):
                pad = (KERNEL_LENGTH - 1) * d // 2
                c = self._conv(xt, i, d)  # [B, 84, T]
                full = steps[None, :] < length[:, None]  # [B, T]
                trimmed = full & (steps[None, :] >= pad) & (steps[None, :] < length[:, None] - pad)
                use_full = (parity + i) % 2 == 0  # [84]
                valid = torch.where(use_full[None, :, None], full[:, None, :],
                                    trimmed[:, None, :])  # [B, 84, T]
                bias = self.biases[start:start + NUM_KERNELS * n_f].view(NUM_KERNELS, n_f, 1)
                count = valid.sum(-1, keepdim=True).clamp(min=1).float()  # [B, 84, 1]
                # positive values of C - bias at valid positions: [B, 84, n_f, T] compared in
                # slices of the batch of at most _COMPARE_ELEMENTS (shapes, not data, decide)
                rows = max(1, _COMPARE_ELEMENTS // (NUM_KERNELS * n_f * t_len))
                positive = torch.cat([
                    ((c[j:j + rows, :, None, :] > bias) & valid[j:j + rows, :, None, :])
                    .sum(-1, dtype=torch.float32) for j in range(0, b, rows)])
                out.append((positive / count).reshape(b, NUM_KERNELS * n_f))
                start += NUM_KERNELS * n_f
            feats = torch.cat(out, 1)
            return (feats - self.feature_mean) / self.feature_std

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, lengths))


@register_builtin("minirocket")
def _minirocket(cfg: ModelConfig, num_features: int, num_outputs: int) -> nn.Module:
    return MiniRocket(cfg, num_features, num_outputs)
