"""The best-epoch rule: better wins, a tie goes to the lower val_loss; and the warnings about the
checkpoint metric."""

import pytest
import torch

from core.selection import (
    SMALL_VAL_SPLIT,
    best_epoch,
    imbalance_warning,
    improves,
    small_validation_warning,
)


def _rows(*pairs, metric="val_accuracy"):
    return [{"epoch": e, metric: v, "val_loss": loss} for e, (v, loss) in enumerate(pairs, 1)]


@pytest.mark.parametrize("mode,best,value", [("max", 0.9, 0.95), ("min", 0.30, 0.25)])
def test_a_strictly_better_metric_wins_whatever_the_loss(mode, best, value):
    # better by any amount beats the best, even with a much higher val_loss
    assert improves(value, best, mode, val_loss=9.0, best_val_loss=0.1)
    assert not improves(best, value, mode, val_loss=0.0, best_val_loss=9.0)


@pytest.mark.parametrize("mode", ["max", "min"])
def test_a_tie_goes_to_the_lower_val_loss(mode):
    # the same metric: the lower val_loss wins, an equal or higher one does not
    assert improves(1.0, 1.0, mode, val_loss=0.2, best_val_loss=0.3)
    assert not improves(1.0, 1.0, mode, val_loss=0.3, best_val_loss=0.3)
    assert not improves(1.0, 1.0, mode, val_loss=0.4, best_val_loss=0.3)
    # without both losses (an old checkpoint) a tie keeps the earlier epoch
    assert not improves(1.0, 1.0, mode, val_loss=0.2, best_val_loss=None)
    assert not improves(1.0, 1.0, mode, val_loss=float("nan"), best_val_loss=0.3)


def test_min_delta_applies_to_the_metric_and_an_exact_tie_still_breaks_on_the_loss():
    # 0.95 is within min_delta 0.1 of 0.9: not an improvement, and not a tie either
    assert not improves(0.95, 0.9, "max", min_delta=0.1, val_loss=0.0, best_val_loss=1.0)
    assert improves(1.05, 0.9, "max", min_delta=0.1)
    assert improves(0.9, 0.9, "max", min_delta=0.1, val_loss=0.1, best_val_loss=0.2)


def test_missing_or_non_finite_values_never_improve_and_the_first_finite_one_does():
    assert not improves(float("nan"), None, "max")
    assert not improves(None, 0.5, "max")
    assert improves(0.5, None, "max")


def test_best_epoch_of_a_saturated_history_is_the_tied_epoch_with_the_lowest_loss():
    rows = _rows((0.9, 0.5), (1.0, 0.4), (1.0, 0.2), (1.0, 0.3))
    assert best_epoch(rows, "val_accuracy", "max") == 3


def test_best_epoch_for_a_min_metric_and_a_strictly_better_later_epoch():
    rows = _rows((0.5, 0.9), (0.3, 0.8), (0.3, 0.6), (0.2, 0.7), metric="val_rmse")
    # epoch 4 is strictly better, although its val_loss is higher than epoch 3's
    assert best_epoch(rows, "val_rmse", "min") == 4
    assert best_epoch(rows[:3], "val_rmse", "min") == 3


def test_best_epoch_skips_non_finite_rows_and_is_none_without_a_finite_one():
    rows = _rows((float("nan"), 0.5), (0.7, 0.4))
    assert best_epoch(rows, "val_accuracy", "max") == 2
    assert best_epoch(rows[:1], "val_accuracy", "max") is None
    assert best_epoch([], "val_accuracy", "max") is None


def test_small_validation_warning_below_the_threshold_only():
    message = small_validation_warning(10, "val_auroc")
    assert message is not None and "10 sequences" in message and "val_loss" in message
    assert small_validation_warning(SMALL_VAL_SPLIT, "val_auroc") is None
    # the loss itself is not coarse, nor are regression errors (issue 13's follow-up: RMSE was
    # warned about as if it tied like accuracy)
    for metric in ("val_loss", "val_rmse", "val_mae", "val_r2"):
        assert small_validation_warning(10, metric) is None
    assert small_validation_warning(10, "val_accuracy") is not None


def test_imbalance_warning_threshold():
    y = torch.tensor([0] * 91 + [1] * 9)
    assert imbalance_warning("binary", y, ["a", "b"], "val_accuracy") is not None
    assert imbalance_warning("binary", y, ["a", "b"], "val_balanced_accuracy") is None
    assert imbalance_warning("binary", torch.tensor([0] * 9 + [1]), ["a", "b"],
                             "val_accuracy") is None  # exactly 10%: not under
    assert imbalance_warning("multiclass", torch.arange(16), [str(i) for i in range(16)],
                             "val_accuracy") is None  # many balanced classes are fine
