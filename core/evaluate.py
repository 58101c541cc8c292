"""Evaluation of a model on one split: its mean loss and the task's metrics.

Used for the validation split after every epoch (``core.loop.fit``) and for the test split of a
finished run (``core.run``, ``tuning.execution._trainable``).
"""

from __future__ import annotations

import torch
from torch import nn

from core.data import SequenceData, eval_batches
from core.device import autocast_context
from core.losses import TaskLoss
from core.metrics import metric_tensors, to_host

__all__ = ["evaluate"]


@torch.no_grad()
def evaluate(model: nn.Module, split: SequenceData, batch_size: int, device: torch.device,
             precision: str, loss_fn: TaskLoss, *, top_k: int = 3,
             threshold: float | None = None, target_mean: torch.Tensor | None = None,
             target_std: torch.Tensor | None = None,
             keep_outputs: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
    """The split's mean loss and the task's metrics (``core.metrics``), one host sync at the end.

    Logits and targets of the whole split stay on ``device`` until the metrics are computed, so
    every metric is over samples. ``threshold`` (binary) is the one ``f1_best`` applies; None
    finds the F1-optimal one on this split, returned under ``threshold``. Regression metrics are
    de-standardised with ``target_mean``/``target_std`` [D]. ``keep_outputs``: a dict that gets
    the split's logits (regression: standardised outputs) under ``outputs``, [N, C] float32 on
    the CPU (a cross-validated run keeps its out-of-fold predictions so).

    Raises:
        ValueError: the split is empty.
    """
    model.eval()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    outputs, targets = [], []
    for x, y, lengths in eval_batches(split, batch_size, device):
        with autocast_context(precision, device):
            logits = model(x, lengths)
        logits = logits.float()
        loss_sum += loss_fn(logits, y, reduction="sum").double()
        outputs.append(logits)
        targets.append(y)
    if not outputs:
        raise ValueError("evaluate: the split is empty")
    if keep_outputs is not None:
        keep_outputs["outputs"] = torch.cat(outputs).cpu()
    values = metric_tensors(loss_fn.task_type, torch.cat(outputs), torch.cat(targets),
                            top_k=top_k, threshold=threshold, target_mean=target_mean,
                            target_std=target_std)
    return to_host({"loss": loss_sum / len(split), **values})
