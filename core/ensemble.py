"""Greedy ensemble selection with replacement (Caruana, Niculescu-Mizil, Crew and Ksikes,
"Ensemble selection from libraries of models", ICML 2004), the method auto-sklearn and AutoGluon
use to combine the models a search trained.

``greedy_selection`` starts from an empty ensemble and, for a fixed number of rounds, adds the
member (any member, again and again: with replacement) whose addition gives the best score of
the ensemble's mean prediction; a member's weight is the share of rounds that chose it. The
predictions are the members' out-of-fold predictions after a cross-validated search (validation
predictions after a holdout one), so the weights are fitted on data no member trained on.

Example: the best single member first (C), then the members whose errors cancel.
    >>> import numpy as np
    >>> preds = np.array([[[1.0], [3.0]], [[3.0], [1.0]], [[2.6], [2.6]]])  # [M=3, N=2, 1]
    >>> targets = np.array([[2.0], [2.0]])
    >>> mse = lambda p, y: float(((p - y) ** 2).mean())
    >>> (greedy_selection(preds, targets, mse, "min", rounds=3) * 3).round(6).tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["greedy_selection"]


def greedy_selection(predictions: np.ndarray, targets: np.ndarray,
                     score: Callable[[np.ndarray, np.ndarray], float], direction: str, *,
                     rounds: int = 50) -> np.ndarray:
    """Member weights by greedy forward selection with replacement (Caruana et al., 2004).

    Args:
        predictions: [M, N, ...] each member's predictions of the N samples, in the space they
            are averaged in: class or label probabilities (classification), outputs (regression).
        targets: the N samples' targets, as ``score`` takes them.
        score: ``score(mean_prediction [N, ...], targets) -> float``, e.g. accuracy or RMSE.
        direction: "max" if a higher score is better, "min" if lower.
        rounds: ensemble size: members added (auto-sklearn's default 50); weights are counts
            over rounds, so multiples of 1/rounds.

    Returns:
        [M] float64 weights, non-negative, summing to 1. A tie between members goes to the lower
        index (list the members best first, so a tie keeps the better single model).

    Raises:
        ValueError: no members, ``rounds`` < 1, or ``direction`` not "min"/"max".
    """
    preds = np.asarray(predictions, dtype=np.float64)
    if preds.ndim < 2 or preds.shape[0] == 0:
        raise ValueError(f"predictions must be [M, N, ...] with M >= 1, got shape {preds.shape}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if direction not in ("min", "max"):
        raise ValueError(f"direction must be 'min' or 'max', got {direction!r}")
    sign = 1.0 if direction == "max" else -1.0
    counts = np.zeros(preds.shape[0], dtype=np.int64)
    total = np.zeros(preds.shape[1:], dtype=np.float64)  # sum of the chosen members' predictions
    for r in range(rounds):
        best, best_value = -1, -np.inf
        for m in range(preds.shape[0]):
            value = sign * float(score((total + preds[m]) / (r + 1), targets))
            if value > best_value:  # strict: a tie keeps the lower index
                best, best_value = m, value
        if best < 0:  # every candidate scored NaN: take the first, as a tie would
            best = 0
        counts[best] += 1
        total += preds[best]
    return counts / counts.sum()
