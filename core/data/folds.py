"""Cross-validation folds of the non-test sequences (``data.cv_folds``).

``cv_folds(strata, targets, groups, k, seed)`` assigns each training sequence to one of ``k``
validation folds with scikit-learn's splitters (``sklearn.model_selection``):

- classes (multiclass, binary): ``StratifiedKFold``, every class in every fold;
- regression: ``StratifiedKFold`` on the target binned at its quantiles (first target column), so
  each fold spans the range of the target;
- multilabel: ``KFold``;
- with groups (``data.group_column``, NPZ ``groups``): the group-aware splitter of the same kind,
  ``StratifiedGroupKFold`` (classes, regression bins) or ``GroupKFold``: a group is never in two
  folds.

Shuffling is seeded by ``data.split_seed``. Folds are returned as index arrays into the training
sequences, each fold's validation indices disjoint from the others' and together covering them.
"""

from __future__ import annotations

import numpy as np

from core.data.errors import DataError

__all__ = ["cv_folds", "FOLD_KEY"]

FOLD_KEY = "data.cv_folds"

Fold = tuple[np.ndarray, np.ndarray]  # (train indices, validation indices), sorted


def _regression_bins(y: np.ndarray, k: int) -> np.ndarray:
    """Quantile bins of the first target with at least ``k`` sequences each (so every fold gets
    one of each bin); at most 10 bins."""
    target = np.asarray(y, dtype=np.float64).reshape(len(y), -1)[:, 0]
    n_bins = max(1, min(10, len(target) // k))
    edges = np.quantile(target, np.linspace(0, 1, n_bins + 1)[1:-1])
    labels = np.searchsorted(edges, target, side="right")
    # Tied targets (many sequences at one value) can leave a bin below k: it joins its smaller
    # neighbour until every bin has k (scikit-learn would warn, and some folds lack the bin).
    while True:
        _, labels = np.unique(labels, return_inverse=True)
        counts = np.bincount(labels)
        if len(counts) < 2 or counts.min() >= k:
            return labels
        i = int(counts.argmin())
        j = i - 1 if i == len(counts) - 1 or (i > 0 and counts[i - 1] <= counts[i + 1]) else i + 1
        labels[labels == i] = j


def cv_folds(task_type: str, strata: np.ndarray, y: np.ndarray, groups: np.ndarray | None,
             k: int, seed: int, class_names: list[str]) -> list[Fold]:
    """The ``k`` folds of N training sequences.

    Args:
        task_type: one of ``core.tasks.TASK_TYPES``.
        strata: [N] class index (multiclass, binary); ignored otherwise.
        y: [N] or [N, D] targets (regression: binned for stratification).
        groups: [N] group of each sequence, or None.
        k: number of folds (>= 2).
        seed: ``data.split_seed``.
        class_names: names of the classes, for errors.

    Returns:
        ``k`` pairs (train indices, validation indices) into the N sequences, sorted int64.

    Raises:
        DataError (key ``data.cv_folds``): a class has fewer than ``k`` sequences, fewer than
            ``k`` groups, or fewer than ``k`` sequences.
    """
    from sklearn.model_selection import (
        GroupKFold,
        KFold,
        StratifiedGroupKFold,
        StratifiedKFold,
    )

    n = len(strata)
    if n < k:
        raise DataError(FOLD_KEY, f"{k} folds need at least {k} training sequences; there are {n}")
    classes = task_type in ("multiclass", "binary")
    if classes:
        counts = np.bincount(strata, minlength=len(class_names))
        present = np.flatnonzero(counts)
        small = present[np.argmin(counts[present])]
        if counts[small] < k:
            raise DataError(FOLD_KEY, f"class {class_names[small]!r} has {int(counts[small])} "
                                      f"non-test sequences: fewer than the {k} folds (each fold's "
                                      f"validation needs one); lower data.cv_folds to at most "
                                      f"{int(counts[small])}")
        labels = strata
    elif task_type == "regression":
        labels = _regression_bins(y, k)
    else:
        labels = None
    x = np.zeros((n, 1))
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups < k:
            raise DataError(FOLD_KEY, f"{n_groups} groups cannot fill {k} folds (a group stays in "
                                      f"one fold); lower data.cv_folds to at most {n_groups}")
        if labels is not None:
            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        else:
            splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
        pairs = splitter.split(x, labels, groups)
    elif labels is not None:
        pairs = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels)
    else:
        pairs = KFold(n_splits=k, shuffle=True, random_state=seed).split(x)
    folds = [(np.sort(a).astype(np.int64), np.sort(b).astype(np.int64)) for a, b in pairs]
    for i, (_, val) in enumerate(folds):
        if len(val) == 0:
            raise DataError(FOLD_KEY, f"fold {i} of {k} would have no validation sequence")
    return folds
