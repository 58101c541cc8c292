"""Cross-validated training's pieces: an epoch's fold summary, out-of-fold predictions and the
fold models as one ensemble.

``core.loop.fit`` trains the K fold models of ``data.cv_folds`` epoch by epoch together and
reports, per epoch, ``fold_summary`` of the K folds' metrics: every validation metric's mean over
the folds under its own name (``val_loss``, ``val_accuracy``, ...; the best epoch, early
stopping, ASHA, TPE and the export all use it), its per-fold values (``val_loss_fold0`` ...) and
its spread (``val_loss_sd``, the standard deviation over folds, ddof 0). A CV checkpoint holds
every fold's complete training state (``FOLD_STATES``), the process RNG, the loop's counters and
the out-of-fold predictions of the best epoch (``OOF_KEY``).

``FoldEnsemble`` averages the fold models' probabilities (classification) or outputs
(regression) and returns them as logits (``log p`` for multiclass, ``logit p`` for binary and
multilabel), so the task's loss and metrics apply unchanged; ``model_from_state`` builds a run's
model, single or ensemble, from a checkpoint.

Example:
    >>> s = fold_summary([{"epoch": 3, "val_loss": 0.2}, {"epoch": 3, "val_loss": 0.4}])
    >>> round(s["val_loss"], 3), s["val_loss_fold1"], round(s["val_loss_sd"], 3)
    (0.3, 0.4, 0.1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["FOLD_STATES", "OOF_KEY", "fold_summary", "FoldEnsemble", "combine_outputs",
           "model_from_state", "is_cv_state"]

FOLD_STATES = "fold_states"  # a CV checkpoint's list of per-fold training states
OOF_KEY = "oof"  # [N_train, outputs] float32 out-of-fold outputs (logits) at the best epoch

# Keys whose fold values are summed (one epoch of the K models is one epoch of the run) or
# taken from the first fold (the same in every fold; first_step_s: fold 0 trains its first
# batch first) instead of averaged.
_SUMMED = ("epoch_time_s", "setup_s")
_FIRST = ("epoch", "lr", "global_step", "first_step_s")


def fold_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One epoch's metrics from the K folds' ``rows`` (each ``core.loop.fit``'s per-epoch dict).

    Every ``val_*`` value and ``train_loss``: the mean over folds under its name, the fold values
    as ``<name>_fold<k>`` and the standard deviation over folds (ddof 0) as ``<name>_sd``;
    ``epoch_time_s`` and ``setup_s`` are summed, ``samples_per_s`` is all samples over all time,
    ``epoch``, ``lr``, ``global_step`` and ``first_step_s`` come from fold 0. Non-finite fold
    values give a NaN mean.
    """
    out: dict[str, Any] = {}
    first = rows[0]
    for key in first:
        values = [r[key] for r in rows]
        if key in _FIRST:
            out[key] = first[key]
        elif key in _SUMMED:
            out[key] = None if any(v is None for v in values) else float(sum(values))
        elif key == "samples_per_s":
            time = sum(r["epoch_time_s"] for r in rows)
            out[key] = sum(r["samples_per_s"] * r["epoch_time_s"] for r in rows) / time \
                if time > 0 else float("nan")
        elif key.startswith("val_") or key == "train_loss":
            mean = sum(values) / len(values)
            out[key] = float(mean)
            for k, v in enumerate(values):
                out[f"{key}_fold{k}"] = float(v)
            out[f"{key}_sd"] = float(math.sqrt(sum((v - mean) ** 2 for v in values)
                                               / len(values))) if math.isfinite(mean) \
                else float("nan")
    return out


def combine_outputs(task_type: str, outputs: Sequence[torch.Tensor],
                    weights: Sequence[float] | None = None) -> torch.Tensor:
    """The weighted mean of members' probabilities (classification) or outputs (regression),
    returned as logits of the task (multiclass ``log p``; binary, multilabel ``logit p``).

    Args:
        outputs: M tensors [B, C] of logits (regression: outputs).
        weights: M non-negative weights (normalised here); None is equal weights.
    """
    w = torch.as_tensor([1.0] * len(outputs) if weights is None else list(weights),
                        dtype=torch.float32, device=outputs[0].device)
    w = w / w.sum()
    stacked = torch.stack([o.float() for o in outputs])  # [M, B, C]
    shape = (-1,) + (1,) * (stacked.dim() - 1)
    if task_type == "regression":
        return (stacked * w.view(shape)).sum(0)
    if task_type == "multiclass":
        p = (stacked.softmax(-1) * w.view(shape)).sum(0)
        return p.clamp_min(1e-12).log()
    p = (stacked.sigmoid() * w.view(shape)).sum(0).clamp(1e-7, 1 - 1e-7)
    return torch.log(p) - torch.log1p(-p)


class FoldEnsemble(nn.Module):
    """Members' weighted mean prediction (``combine_outputs``) as one model: ``forward(x,
    lengths)`` [B, T, F], [B] -> [B, C] logits of the task. The K fold models of a CV run with
    equal weights; item weights from greedy ensemble selection (``core.ensemble``)."""

    def __init__(self, members: Sequence[nn.Module], task_type: str,
                 weights: Sequence[float] | None = None):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.task_type = task_type
        self.weights = None if weights is None else [float(w) for w in weights]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return combine_outputs(self.task_type, [m(x, lengths) for m in self.members],
                               self.weights)


def is_cv_state(state: dict[str, Any]) -> bool:
    """Whether a checkpoint is a cross-validated run's (every fold's state inside)."""
    return FOLD_STATES in state


def model_from_state(state: dict[str, Any], build, task_type: str) -> nn.Module:
    """The model a checkpoint holds: ``build()`` (a fresh model of the run's config) loaded
    with its weights, or for a CV checkpoint the ``FoldEnsemble`` of its fold models."""
    if not is_cv_state(state):
        net = build()
        net.load_state_dict(state["model"])
        return net
    members = []
    for fold_state in state[FOLD_STATES]:
        net = build()
        net.load_state_dict(fold_state["model"])
        members.append(net)
    return FoldEnsemble(members, task_type)
