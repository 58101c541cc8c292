"""The optimizer and the learning-rate schedule of a run, built from ``optim`` and ``schedule``.

Example:
    >>> from core.config import config_from_dict
    >>> cfg = config_from_dict({"training": {"epochs": 2}, "schedule": {"warmup_steps": 2}})
    >>> model = torch.nn.Linear(3, 2)
    >>> scheduler = build_scheduler(build_optimizer(model, cfg), cfg, steps_per_epoch=5)
    >>> round(scheduler.get_last_lr()[0] / cfg.optim.lr, 3)  # the first step: lr / warmup
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from core.config import Config
from core.plan import warmup_intervals

__all__ = ["build_optimizer", "build_scheduler"]


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """Weight matrices decay; biases and normalisation parameters (ndim <= 1) do not."""
    o = cfg.optim
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": o.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if o.name == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov)
    cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
    # One fused kernel for all parameters on CUDA: small models are bound by kernel launches.
    fused = all(p.is_cuda for p in model.parameters()) or None
    return cls(groups, lr=o.lr, betas=tuple(o.betas), eps=o.eps, fused=fused)


def _warmup_then(decay: Callable[[int], float], warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return decay(step - warmup)

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Config, steps_per_epoch: int):
    """Returns the scheduler (or None). It advances once per ``schedule.interval``.

    The horizon is ``epochs`` in epoch mode and ``epochs * steps_per_epoch`` optimizer steps in
    step mode; warmup counts in the same unit and rises linearly to the peak lr.
    """
    s = cfg.schedule
    total = cfg.training.epochs * (steps_per_epoch if s.interval == "step" else 1)
    warmup = min(warmup_intervals(cfg, total), max(total - 1, 0))
    lr_lambda: Callable[[int], float] | None = None
    if s.name == "none":
        if not warmup:
            return None
        lr_lambda = _warmup_then(lambda _: 1.0, warmup)
    elif s.name == "cosine":
        span = max(total - warmup, 1)

        def cosine(step: int) -> float:
            progress = min(step / span, 1.0)
            return s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

        lr_lambda = _warmup_then(cosine, warmup)
    elif s.name == "step":
        lr_lambda = _warmup_then(lambda step: s.gamma ** (step // s.step_size), warmup)
    elif s.name == "onecycle":
        # OneCycleLR divides by its rising phase's length less one step: at least two steps
        # (a warmup of one step raised ZeroDivisionError).
        pct = max(warmup, 2) / total if warmup else 0.3
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.optim.lr, total_steps=max(total, 2), pct_start=min(pct, 0.99),
            cycle_momentum=cfg.optim.name == "sgd")
    elif s.name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=s.plateau_factor, patience=s.plateau_patience,
            min_lr=s.min_lr_ratio * cfg.optim.lr)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
