"""core.tasks: the catalogue of task types, their losses and metrics, and the one metric rule."""

import pytest

from core.tasks import (
    LOSSES,
    TASK_TYPES,
    default_checkpoint_metric,
    default_loss,
    direction,
    metric_names,
    metric_problem,
    metrics_for,
)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_every_task_records_its_losses_and_a_default_metric_it_produces(task_type):
    metrics = metrics_for(task_type)
    assert metrics["train_loss"] == metrics["val_loss"] == "min"
    assert set(metrics) == {"train_loss"} | {f"val_{n}" for n in metric_names(task_type)}
    assert default_checkpoint_metric(task_type) in metrics
    assert default_loss(task_type) == LOSSES[task_type][0]
    assert set(metrics.values()) <= {"min", "max"}


def test_directions_of_val_and_test_names():
    assert direction("regression", "val_rmse") == "min"
    assert direction("regression", "test_r2") == "max"  # the test split's name of val_r2
    assert direction("binary", "val_auroc") == "max"
    with pytest.raises(ValueError, match="binary tasks do not produce 'val_rmse'"):
        direction("binary", "val_rmse")


def test_metric_problem_names_which_part_is_wrong():
    assert metric_problem("multiclass", "val_accuracy") is None
    assert metric_problem("multiclass", "val_accuracy", "max") is None
    which, message = metric_problem("multiclass", "val_rmse")
    assert which == "metric" and message.startswith(
        "multiclass tasks do not produce 'val_rmse'; they produce train_loss, val_loss")
    # a wrong metric is reported as such, whatever the mode
    assert metric_problem("multiclass", "val_rmse", "min")[0] == "metric"
    assert metric_problem("multiclass", "val_loss", "max") == (
        "mode", "val_loss improves when it goes min, not max")
    # test_ names are not selectable: a run selects on validation
    assert metric_problem("multiclass", "test_accuracy")[0] == "metric"


def test_unknown_task_type_is_refused():
    for fn in (metrics_for, default_loss, default_checkpoint_metric, metric_names):
        with pytest.raises(ValueError, match="unknown task type 'ranking'"):
            fn("ranking")
    with pytest.raises(ValueError, match="unknown task type"):
        metric_problem("ranking", "val_loss")
