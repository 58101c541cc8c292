"""Which epoch is best: the one rule that chooses ``checkpoints/best.pt``, a trial's best epoch
and early stopping's improvements, and the warnings given when the checkpoint metric misleads.

The rule (``improves``): an epoch beats the best so far when its metric is better by more than
``min_delta`` (0 for the checkpoint metric); on an exact tie, the epoch with the lower
``val_loss`` wins, so a later epoch that scores the same and fits validation better replaces an
earlier one. On a small validation split a metric such as accuracy or AUROC moves in coarse
steps and often saturates (1.0 by epoch 2), and without the tie-break the earliest, undertrained
epoch would stay best. ``best_epoch`` applies the rule over a whole history: ``core.loop.fit``
and ``tuning.record._results`` (trials.csv, export) pick the same epoch from the same history.

The module does not import torch: the sweep's report reads trial results through
``tuning.record._results``, which uses ``best_epoch``, on machines without torch.

Example:
    >>> history = [{"epoch": 1, "val_accuracy": 0.9, "val_loss": 0.40},
    ...            {"epoch": 2, "val_accuracy": 1.0, "val_loss": 0.30},
    ...            {"epoch": 3, "val_accuracy": 1.0, "val_loss": 0.10},
    ...            {"epoch": 4, "val_accuracy": 1.0, "val_loss": 0.20}]
    >>> best_epoch(history, "val_accuracy", "max")
    3
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["SMALL_VAL_SPLIT", "improves", "best_epoch", "small_validation_warning",
           "imbalance_warning"]

# Fewer validation sequences than this: a classification metric moves in steps of 1/n or more
# and ties between epochs are common (on ItalyPowerDemand's 16 validation sequences val_auroc
# reached 1.0 at epoch 2), so the run log says that ties are broken by val_loss.
SMALL_VAL_SPLIT = 50


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def improves(value: Any, best: float | None, mode: str, *, val_loss: Any = None,
             best_val_loss: Any = None, min_delta: float = 0.0) -> bool:
    """Whether an epoch scoring ``value`` (and ``val_loss``) beats the best so far, ``best``
    (and the best epoch's ``best_val_loss``), when the metric improves in direction ``mode``
    ("min" or "max").

    True when ``value`` is better than ``best`` by more than ``min_delta``, or equals ``best``
    exactly and ``val_loss`` is lower than ``best_val_loss`` (the tie-break; a missing loss never
    wins a tie). False for a missing or non-finite ``value``; True for any finite ``value`` when
    there is no best yet (``best`` None).

    Example:
        >>> improves(1.0, 1.0, "max", val_loss=0.1, best_val_loss=0.3)
        True
        >>> improves(0.2, 0.2, "min", val_loss=0.5, best_val_loss=0.3)
        False
    """
    if not _number(value):
        return False
    if best is None:
        return True
    if value < best - min_delta if mode == "min" else value > best + min_delta:
        return True
    return value == best and _number(val_loss) and _number(best_val_loss) and \
        val_loss < best_val_loss


def best_epoch(history: Iterable[Mapping[str, Any]], metric: str, mode: str) -> int | None:
    """The best epoch of ``history`` (rows with ``epoch``, ``metric`` and ``val_loss``, in epoch
    order) by ``improves``: the epoch ``core.loop.fit`` reports as ``best_epoch`` for the same
    rows. None when no row has a finite ``metric``."""
    best: Mapping[str, Any] | None = None
    for row in history:
        if improves(row.get(metric), None if best is None else best[metric], mode,
                    val_loss=row.get("val_loss"),
                    best_val_loss=None if best is None else best.get("val_loss")):
            best = row
    return None if best is None else int(best["epoch"])


def small_validation_warning(n_val: int, metric: str) -> str | None:
    """A warning when the validation split has fewer than ``SMALL_VAL_SPLIT`` sequences and
    ``metric`` (the checkpoint metric) moves in steps of 1/n_val or so: not the validation loss
    and not a regression error (RMSE, MAE, R^2), which are continuous and rarely tie."""
    from core.tasks import metrics_for

    if n_val >= SMALL_VAL_SPLIT or metric == "val_loss" or metric in metrics_for("regression"):
        return None
    return (f"the validation split has {n_val} sequences (under {SMALL_VAL_SPLIT}): {metric} is "
            f"coarse on it and epochs often tie (or saturate early); a tie is broken by the "
            f"lower val_loss, so a later epoch that scores the same and fits better is best.pt")


def imbalance_warning(task_type: str, train_y: torch.Tensor, class_names: list[str],
                      metric: str) -> str | None:
    """A warning when ``metric`` is plain accuracy and the train classes are very imbalanced.

    Very imbalanced: the minority class has fewer than 1/9 of the majority's sequences, which for
    two classes means under 10% of them. Accuracy then rewards predicting the majority class.
    """
    if task_type not in ("multiclass", "binary") or not metric.endswith("_accuracy") or \
            metric.endswith("balanced_accuracy") or len(train_y) == 0:
        return None
    counts = train_y.long().cpu().reshape(-1).bincount(minlength=max(len(class_names), 2))
    lo, hi = int(counts.min()), int(counts.max())
    if lo * 9 >= hi:
        return None
    share = lo / int(counts.sum())
    return (f"the minority class is {share:.1%} of the train split and {metric} is plain "
            f"accuracy, which predicting the majority class scores well on; consider "
            f"val_balanced_accuracy, val_macro_f1 or (binary) val_auroc / val_average_precision, "
            f"and task.class_weight / task.pos_weight or loader.sampler: balanced")
