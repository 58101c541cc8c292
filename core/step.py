"""One eager training step: a micro-batch's forward and backward, gradient accumulation, the
optimizer step with clipping, and the check that the loss stayed finite.

(The CUDA-graphed step that replaces it where it can: ``core.cuda_graph``.)
"""

from __future__ import annotations

import torch
from torch import nn

from core.device import autocast_context
from core.errors import NonFiniteLossError
from core.losses import TaskLoss

__all__ = ["forward_backward", "optimizer_step", "group_weights", "check_finite"]


def forward_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                     lengths: torch.Tensor | None, weight: float, precision: str,
                     device: torch.device, scaler: torch.amp.GradScaler | None,
                     loss_fn: TaskLoss) -> torch.Tensor:
    """One micro-batch: forward under autocast, backward of ``loss * weight``; returns the loss.

    ``loss_fn`` (``core.losses``) gets the logits in fp32 and returns the batch's mean loss.
    """
    with autocast_context(precision, device):
        logits = model(x, lengths)
    loss = loss_fn(logits, y)
    scaled = loss * weight if weight != 1.0 else loss
    (scaler.scale(scaled) if scaler is not None else scaled).backward()
    return loss.detach()


def optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler | None, clip_norm: float) -> None:
    """Unscale (fp16), then clip, then step: clipping must see the true gradients."""
    if scaler is not None:
        scaler.unscale_(optimizer)
    if clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def group_weights(num_batches: int, batch_size: int, n: int, accum: int,
                  drop_last: bool) -> list[float]:
    """Per micro-batch factor n_i / (samples in its accumulation group).

    Summing ``mean_loss_i * factor_i`` over a group gives the mean loss over the group's samples,
    so k micro-batches produce the gradient of one batch of their combined size.

    Example:
        >>> group_weights(num_batches=3, batch_size=4, n=10, accum=2, drop_last=False)
        [0.5, 0.5, 1.0]
    """
    sizes = [batch_size] * num_batches
    if not drop_last and num_batches and n % batch_size:
        sizes[-1] = n % batch_size
    weights = []
    for g in range(0, num_batches, accum):
        group = sizes[g:g + accum]
        total = sum(group)
        weights += [s / total for s in group]
    return weights


def check_finite(loss_sum: torch.Tensor, epoch: int, step: int) -> None:
    """Raises ``NonFiniteLossError`` (naming the epoch and step) when ``loss_sum`` is NaN or inf;
    one host sync."""
    if not torch.isfinite(loss_sum).item():
        raise NonFiniteLossError(
            f"training loss became NaN or inf in epoch {epoch} (by optimizer step {step}); "
            "lower optim.lr, enable training.grad_clip_norm, or use bf16 instead of fp16")
