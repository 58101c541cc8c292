"""What each task type trains with and reports: its losses and its metrics with their directions.

A small, import-light catalogue (no torch): the config validation reads it to check
``task.loss``, ``training.checkpoint_metric`` and ``training.early_stopping.metric``;
``core.losses`` and ``core.metrics`` implement what it names.

Every metric a run records per epoch is ``train_loss`` or ``val_<name>``; the test split of a
standalone run reports the same names as ``test_<name>``. ``metrics_for(task_type)`` maps each
selectable metric to the direction in which it improves ("min" or "max"). A binary run's
decision threshold (``decision_threshold``) is the one rule of which threshold its test
``f1_best`` and its predicted labels apply.

Example:
    >>> metrics_for("binary")["val_auroc"]
    'max'
    >>> default_checkpoint_metric("regression")
    'val_rmse'
"""

from __future__ import annotations

__all__ = ["TASK_TYPES", "LOSSES", "default_loss", "metrics_for", "metric_names",
           "default_checkpoint_metric", "direction", "metric_problem", "DEFAULT_THRESHOLD",
           "decision_threshold"]

TASK_TYPES = ("multiclass", "binary", "multilabel", "regression")

# Losses per task type; the first is the default when task.loss is null.
LOSSES: dict[str, tuple[str, ...]] = {
    "multiclass": ("cross_entropy", "focal"),
    "binary": ("bce", "focal"),
    "multilabel": ("bce", "focal"),
    "regression": ("mse", "mae", "huber"),
}

# Per-split metric names (without the val_/test_ prefix) and the direction in which each improves.
_SPLIT_METRICS: dict[str, dict[str, str]] = {
    "multiclass": {"loss": "min", "accuracy": "max", "macro_f1": "max",
                   "balanced_accuracy": "max", "auroc": "max"},
    "binary": {"loss": "min", "auroc": "max", "average_precision": "max", "f1": "max",
               "f1_best": "max", "balanced_accuracy": "max", "accuracy": "max"},
    "multilabel": {"loss": "min", "micro_f1": "max", "macro_f1": "max", "map": "max",
                   "recall_at_k": "max", "hit_at_k": "max"},
    "regression": {"loss": "min", "rmse": "min", "mae": "min", "r2": "max"},
}

# The checkpoint metric when training.checkpoint_metric is null.
_DEFAULT_CHECKPOINT = {"multiclass": "val_accuracy", "binary": "val_auroc",
                       "multilabel": "val_map", "regression": "val_rmse"}


def _check_type(task_type: str) -> None:
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task type {task_type!r} (known: {', '.join(TASK_TYPES)})")


def default_loss(task_type: str) -> str:
    """The loss used when ``task.loss`` is null: cross_entropy, bce, bce or mse."""
    _check_type(task_type)
    return LOSSES[task_type][0]


def metric_names(task_type: str) -> list[str]:
    """Per-split metric names of the task, unprefixed (``["loss", "accuracy", ...]``)."""
    _check_type(task_type)
    return list(_SPLIT_METRICS[task_type])


def metrics_for(task_type: str) -> dict[str, str]:
    """Every metric the task records per epoch (``train_loss``, ``val_*``) -> "min" or "max".

    These are the values ``training.checkpoint_metric``, ``training.early_stopping.metric`` and a
    search space's ``metric`` accept. Raises ValueError for an unknown task type.
    """
    _check_type(task_type)
    out = {"train_loss": "min"}
    out.update({f"val_{name}": mode for name, mode in _SPLIT_METRICS[task_type].items()})
    return out


def default_checkpoint_metric(task_type: str) -> str:
    """val_accuracy, val_auroc, val_map, val_rmse: multiclass, binary, multilabel, regression."""
    _check_type(task_type)
    return _DEFAULT_CHECKPOINT[task_type]


def direction(task_type: str, metric: str) -> str:
    """"min" or "max" for a metric of the task; accepts ``val_``, ``test_`` and ``train_`` names.

    Raises ValueError naming the metrics the task produces when it produces no such metric.
    """
    known = metrics_for(task_type)
    if metric in known:
        return known[metric]
    if metric.startswith("test_") and f"val_{metric[5:]}" in known:
        return known[f"val_{metric[5:]}"]
    raise ValueError(f"{task_type} tasks do not produce {metric!r}; they produce "
                     f"{', '.join(known)}")


def metric_problem(task_type: str, metric: str, mode: str | None = None) -> tuple[str, str] | None:
    """The one rule for a metric to select or stop on (``training.checkpoint_metric``,
    ``training.early_stopping.metric``, a space's ``metric``, ``--metric``): it must be one the
    task records per epoch (``metrics_for``), and ``mode``, when given, must be its direction.

    Returns None when both hold, else ``("metric", message)`` or ``("mode", message)``: which of
    the two is wrong, for the caller to name with its own key. Raises ValueError for an unknown
    task type.

    Example:
        >>> metric_problem("regression", "val_rmse", "min") is None
        True
        >>> metric_problem("regression", "val_rmse", "max")
        ('mode', 'val_rmse improves when it goes min, not max')
    """
    known = metrics_for(task_type)
    if metric not in known:
        return "metric", (f"{task_type} tasks do not produce {metric!r}; they produce "
                          f"{', '.join(known)}")
    if mode is not None and mode != known[metric]:
        return "mode", f"{metric} improves when it goes {known[metric]}, not {mode}"
    return None


DEFAULT_THRESHOLD = 0.5  # binary: the decision threshold of a run that has no other


def decision_threshold(fixed: float | None, chosen: float | None) -> tuple[float, str]:
    """A binary run's decision threshold and where it comes from: ``fixed`` (``task.threshold``)
    when given, else ``chosen`` (the best epoch's ``val_threshold``: F1-optimal on validation,
    out-of-fold after cross-validation), else ``DEFAULT_THRESHOLD``. Returns (threshold,
    "task.threshold" | "validation" | "default"). The test split's ``f1_best`` and
    ``core.predict``'s labels both apply it; it is never chosen on the split it scores.

    Example:
        >>> decision_threshold(None, 0.31), decision_threshold(0.4, 0.31)
        ((0.31, 'validation'), (0.4, 'task.threshold'))
        >>> decision_threshold(None, None)
        (0.5, 'default')
    """
    if fixed is not None:
        return float(fixed), "task.threshold"
    if chosen is not None:
        return float(chosen), "validation"
    return DEFAULT_THRESHOLD, "default"
