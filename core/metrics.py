"""Per-split metrics of each task type, computed with torchmetrics' functional API.

``compute_metrics`` takes the logits and targets of a whole split, accumulated on the device
where the model ran, computes every metric of the task there and moves the values to the host in
one transfer. All metrics are over samples (sample-weighted), never averages of batch values.
Names and directions are in ``core.tasks``; docs/tasks.md explains each.

Values that a split cannot define are set, never NaN:
    - AUROC of a class/label with no positive or no negative in the split is left out of the
      macro average; when no class qualifies AUROC is 0.5 (chance).
    - Average precision of a label with no positive is left out of ``map``; with no positive at
      all, AP is 0 (the AP of a random ranking is the positive rate, here 0).
    - balanced accuracy averages the recall of the classes present in the split (as
      scikit-learn's ``balanced_accuracy_score``).
    - F1 with no true and no predicted positive is 0 (scikit-learn's ``zero_division=0``); macro
      F1 averages over classes present in the targets or the predictions (scikit-learn's
      default labels) for multiclass, over all labels for multilabel (as scikit-learn).
    - recall_at_k and hit_at_k average over samples with at least one true label (0 if none).
    - R² of a constant target is 1 for a perfect prediction, else 0 (scikit-learn's
      ``force_finite``).

Example:
    >>> import torch
    >>> m = compute_metrics("binary", torch.tensor([[2.0], [-1.0], [0.5]]),
    ...                     torch.tensor([1.0, 0.0, 0.0]), threshold=0.7)
    >>> round(m["f1_best"], 3), round(m["threshold"], 3)
    (1.0, 0.7)
"""

from __future__ import annotations

import warnings

import torch
from torchmetrics.functional.classification import (
    binary_accuracy,
    binary_auroc,
    binary_average_precision,
    binary_f1_score,
    binary_precision_recall_curve,
    multiclass_accuracy,
    multiclass_auroc,
    multiclass_f1_score,
    multiclass_recall,
    multilabel_average_precision,
    multilabel_f1_score,
)
from torchmetrics.functional.regression import mean_absolute_error, mean_squared_error, r2_score

# The inputs are built by this module; torchmetrics' validation would read tensor values on
# the host (a device sync per call).
_TRUSTED = {"validate_args": False}

__all__ = ["compute_metrics", "metric_tensors", "to_host", "best_f1_threshold"]


def compute_metrics(task_type: str, logits: torch.Tensor, target: torch.Tensor, *,
                    top_k: int = 3, threshold: float | None = None,
                    target_mean: torch.Tensor | None = None,
                    target_std: torch.Tensor | None = None) -> dict[str, float]:
    """``metric_tensors`` moved to the host in one transfer: a dict of Python floats."""
    return to_host(metric_tensors(task_type, logits, target, top_k=top_k, threshold=threshold,
                                  target_mean=target_mean, target_std=target_std))


def to_host(values: dict[str, torch.Tensor]) -> dict[str, float]:
    """0-d tensors (one device) -> floats, with one device-to-host copy."""
    names = list(values)
    host = torch.stack([values[n].float().reshape(()) for n in names]).cpu().tolist()
    return dict(zip(names, host, strict=True))


def metric_tensors(task_type: str, logits: torch.Tensor, target: torch.Tensor, *,
                   top_k: int = 3, threshold: float | None = None,
                   target_mean: torch.Tensor | None = None,
                   target_std: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The task's metrics (``core.tasks.metric_names`` except ``loss``) as 0-d device tensors.

    Binary results also hold ``threshold``, the one ``f1_best`` used.

    Args:
        task_type: multiclass, binary, multilabel or regression.
        logits: model outputs [N, O] of the whole split (any float dtype, any device).
        target: multiclass int64 [N]; binary [N] 0/1; multilabel [N, K] 0/1; regression
            [N, D] standardised.
        top_k: multilabel k of recall_at_k and hit_at_k (clamped to K).
        threshold: binary: the probability threshold of ``f1_best``; None finds the F1-optimal
            one on this split (validation). The result's ``threshold`` key holds the one used.
        target_mean, target_std: regression: [D] statistics that de-standardise predictions and
            targets, so that rmse, mae and r2 are in the targets' original units.

    Raises:
        ValueError: an empty split or an unknown task type.
    """
    if target.shape[0] == 0:
        raise ValueError("metrics of an empty split are undefined")
    logits = logits.float()
    with warnings.catch_warnings():
        # torchmetrics warns about the undefined cases, which are handled and documented above.
        warnings.simplefilter("ignore", UserWarning)
        if task_type == "multiclass":
            values = _multiclass(logits, target.long())
        elif task_type == "binary":
            values = _binary(logits.reshape(-1), target.reshape(-1).long(), threshold)
        elif task_type == "multilabel":
            values = _multilabel(logits, target.long(), top_k)
        elif task_type == "regression":
            values = _regression(logits, target.float().reshape(logits.shape), target_mean,
                                 target_std)
        else:
            raise ValueError(f"unknown task type {task_type!r}")
    return values


def _present_mean(per_class: torch.Tensor, present: torch.Tensor,
                  empty: float) -> torch.Tensor:
    """Mean of ``per_class`` over ``present``; ``empty`` when nothing is present (no sync)."""
    count = present.sum()
    total = torch.where(present, per_class, torch.zeros_like(per_class)).sum()
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, empty))


def _multiclass(logits: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    k = logits.shape[-1]
    pred = logits.argmax(-1)
    support = torch.bincount(y, minlength=k)
    recall = multiclass_recall(pred, y, num_classes=k, average="none", **_TRUSTED)
    auroc = multiclass_auroc(logits.softmax(-1), y, num_classes=k, average="none",
                             thresholds=None, **_TRUSTED)
    return {
        "accuracy": multiclass_accuracy(pred, y, num_classes=k, average="micro", **_TRUSTED),
        "balanced_accuracy": _present_mean(recall, support > 0, 0.0),
        "macro_f1": multiclass_f1_score(pred, y, num_classes=k, average="macro", **_TRUSTED),
        # one-vs-rest AUROC is defined for classes with positives and negatives in the split
        "auroc": _present_mean(auroc, (support > 0) & (support < y.shape[0]), 0.5),
    }


def best_f1_threshold(prob: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The threshold t maximising F1 of ``prob >= t``: a 0-d tensor on ``prob``'s device.

    Candidates are the distinct probabilities (torchmetrics' exact precision-recall curve); among
    equal F1 values the highest threshold wins (fewest positives). With no positive in ``y``
    every F1 is 0 and the threshold is 0.5.
    """
    with warnings.catch_warnings():  # no positive: handled below (torchmetrics warns)
        warnings.simplefilter("ignore", UserWarning)
        precision, recall, thresholds = binary_precision_recall_curve(prob, y, thresholds=None,
                                                                      **_TRUSTED)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    best = f1.max()
    # thresholds ascend: the last index holding the maximum is the highest such threshold
    idx = f1.numel() - 1 - (f1 == best).flip(0).int().argmax()  # no host sync (nonzero has one)
    return torch.where(best > 0, thresholds[idx], torch.full_like(thresholds[idx], 0.5))


def _binary(logit: torch.Tensor, y: torch.Tensor,
            threshold: float | None) -> dict[str, torch.Tensor]:
    prob = torch.sigmoid(logit)
    pos = y.sum()
    n = y.shape[0]
    both = (pos > 0) & (pos < n)
    t = best_f1_threshold(prob, y) if threshold is None else \
        torch.tensor(threshold, device=prob.device)
    at_half = (prob > 0.5).long()  # torchmetrics' binary threshold rule: p > 0.5 is positive
    recall = multiclass_recall(at_half, y, num_classes=2, average="none", **_TRUSTED)
    support = torch.stack([n - pos, pos])
    return {
        "auroc": torch.where(both, binary_auroc(prob, y, **_TRUSTED),
                             torch.tensor(0.5, device=prob.device)),
        "average_precision": torch.where(pos > 0, binary_average_precision(prob, y, **_TRUSTED),
                                         torch.zeros((), device=prob.device)),
        "f1": binary_f1_score(at_half, y, **_TRUSTED),
        "f1_best": binary_f1_score((prob >= t).long(), y, **_TRUSTED),
        "balanced_accuracy": _present_mean(recall, support > 0, 0.0),
        "accuracy": binary_accuracy(at_half, y, **_TRUSTED),
        "threshold": t,
    }


def _multilabel(logits: torch.Tensor, y: torch.Tensor, top_k: int) -> dict[str, torch.Tensor]:
    n, k = y.shape
    prob = torch.sigmoid(logits)
    ap = multilabel_average_precision(prob, y, num_labels=k, average="none", thresholds=None,
                                      **_TRUSTED)
    has_pos = y.sum(0) > 0
    at_half = (prob > 0.5).long()  # hard predictions: torchmetrics checks no float range then
    # top-k retrieval per sample (torchmetrics' retrieval metrics take one query at a time)
    kk = min(top_k, k)
    top = prob.topk(kk, dim=-1).indices
    hits = y.gather(1, top).sum(-1).float()
    relevant = y.sum(-1).float()
    scored = relevant > 0
    return {
        "micro_f1": multilabel_f1_score(at_half, y, num_labels=k, average="micro", **_TRUSTED),
        "macro_f1": multilabel_f1_score(at_half, y, num_labels=k, average="macro", **_TRUSTED),
        "map": _present_mean(torch.nan_to_num(ap, nan=0.0), has_pos, 0.0),
        "recall_at_k": _present_mean(hits / relevant.clamp(min=1), scored, 0.0),
        "hit_at_k": _present_mean((hits > 0).float(), scored, 0.0),
    }


def _regression(pred: torch.Tensor, y: torch.Tensor, mean: torch.Tensor | None,
                std: torch.Tensor | None) -> dict[str, torch.Tensor]:
    if mean is not None and std is not None:
        mean, std = mean.to(pred.device).float(), std.to(pred.device).float()
        pred, y = pred * std + mean, y * std + mean
    d = y.shape[-1]
    mse = mean_squared_error(pred, y, num_outputs=d)
    mae = torch.stack([mean_absolute_error(pred[:, j], y[:, j]) for j in range(d)])
    r2 = r2_score(pred, y, multioutput="raw_values") if y.shape[0] > 1 else \
        torch.full((d,), float("nan"), device=y.device)
    # scikit-learn's force_finite: a constant target scores 1 when predicted exactly, else 0
    constant = (y == y[:1]).all(0)
    perfect = (pred == y).all(0)
    fallback = torch.where(perfect, torch.ones_like(r2), torch.zeros_like(r2))
    r2 = torch.where(constant | ~torch.isfinite(r2), fallback, r2)
    return {"rmse": mse.reshape(d).sqrt().mean(), "mae": mae.mean(), "r2": r2.reshape(d).mean()}
