"""core.ensemble: greedy ensemble selection with replacement (Caruana et al., ICML 2004),
checked against examples computed by hand."""

import numpy as np
import pytest

from core.ensemble import greedy_selection


def _mse(p, y):
    return float(((p - y) ** 2).mean())


def test_hand_computed_regression_example():
    # Targets (2, 2). Members: A (1, 3), B (3, 1), C (2.6, 2.6); single MSEs 1, 1, 0.36.
    # Round 1: C (0.36).
    # Round 2: C+A -> (1.8, 2.8): (0.04 + 0.64) / 2 = 0.34; C+B -> (2.8, 1.8): 0.34;
    #          C+C: 0.36. A and B tie at 0.34: A (lower index).
    # Round 3: C+A+B -> (2.2, 2.2): 0.04; C+A+A -> (1.533, 2.867): 0.485;
    #          C+A+C -> (2.067, 2.733): 0.271. B.
    # Round 4: adding A -> (1.9, 2.4): 0.085; B -> (2.4, 1.9): 0.085; C -> (2.3, 2.3): 0.09.
    #          A (tie with B, lower index).
    preds = np.array([[[1.0], [3.0]], [[3.0], [1.0]], [[2.6], [2.6]]])
    targets = np.array([[2.0], [2.0]])
    assert greedy_selection(preds, targets, _mse, "min", rounds=1).tolist() == [0, 0, 1]
    assert greedy_selection(preds, targets, _mse, "min", rounds=2).tolist() == [0.5, 0, 0.5]
    assert greedy_selection(preds, targets, _mse, "min", rounds=3) == \
        pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert greedy_selection(preds, targets, _mse, "min", rounds=4).tolist() == \
        [0.5, 0.25, 0.25]


def test_hand_computed_classification_example_maximises_accuracy():
    # Three samples of classes 0, 1, 1; members give P(class 1):
    #   A (0.4, 0.6, 0.4): accuracy 2/3 (sample 3 wrong)
    #   B (0.6, 0.9, 0.9): accuracy 2/3 (sample 1 wrong)
    #   C (0.1, 0.2, 0.8): accuracy 2/3 (sample 2 wrong)
    # Round 1: all tie at 2/3: A. Round 2: A+B (0.5, 0.75, 0.65): 2/3 (0.5 is class 1);
    # A+C (0.25, 0.4, 0.6): 2/3; A+A: 2/3: A again (tie). Round 3: A+A+B (0.467, 0.7, 0.567):
    # 3/3 -> B. Weights after 3 rounds: A 2/3, B 1/3.
    preds = np.array([[0.4, 0.6, 0.4], [0.6, 0.9, 0.9], [0.1, 0.2, 0.8]])[..., None]
    targets = np.array([0, 1, 1])

    def accuracy(p, y):
        return float(((p[:, 0] >= 0.5).astype(int) == y).mean())

    w = greedy_selection(preds, targets, accuracy, "max", rounds=3)
    assert w == pytest.approx([2 / 3, 1 / 3, 0])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="direction"):
        greedy_selection(np.zeros((2, 3)), np.zeros(3), _mse, "up")
    with pytest.raises(ValueError, match="rounds"):
        greedy_selection(np.zeros((2, 3)), np.zeros(3), _mse, "min", rounds=0)
    with pytest.raises(ValueError, match="M >= 1"):
        greedy_selection(np.zeros((0, 3)), np.zeros(3), _mse, "min")
