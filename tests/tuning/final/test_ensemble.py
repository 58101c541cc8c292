"""The ensemble's binary decision threshold (tuning.final.ensemble_threshold): F1-optimal on the
weighted mean of its members' out-of-fold probabilities."""

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve

from tuning.final import ensemble_threshold


def test_the_threshold_of_a_hand_computed_out_of_fold_example():
    a = [0.9, 0.7, 0.3, 0.7, 0.2, 0.5]
    b = [0.6, 0.2, 0.8, 0.4, 0.5, 0.1]
    y = [1, 0, 1, 1, 0, 0]
    # Each member alone: a's F1 of p >= t is best at t = 0.3 (3/4), b's at t = 0.4 (6/7).
    assert ensemble_threshold(np.array([a]), [1.0], y) == pytest.approx(0.3)
    assert ensemble_threshold(np.array([b]), [1.0], y) == pytest.approx(0.4)
    # The ensemble's mean prediction 0.5 a + 0.5 b = [0.75, 0.45, 0.55, 0.55, 0.35, 0.3]
    # separates the classes at t = 0.55 (F1 1): its own threshold, not the members' mean 0.35.
    assert ensemble_threshold(np.array([a, b]), [0.5, 0.5], y) == pytest.approx(0.55)
    # No positive: every F1 is 0, the threshold is 0.5.
    assert ensemble_threshold(np.array([a, b]), [0.5, 0.5], [0] * 6) == 0.5


def test_the_threshold_agrees_with_scikit_learns_precision_recall_curve():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(int)
    probs = y[:, None] * 0.25 + rng.random((3, 300, 1)) * 0.75  # [M, N, 1] as stored
    w = np.array([0.5, 0.3, 0.2])
    mean = np.tensordot(w, probs, axes=1).reshape(-1)
    precision, recall, thresholds = precision_recall_curve(y, mean)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    expected = thresholds[np.flatnonzero(f1 == f1.max())[-1]]  # ties: the highest threshold
    assert ensemble_threshold(probs, w, y) == pytest.approx(expected, abs=1e-12)
