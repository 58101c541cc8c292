"""The config's rules across fields and the defaults they resolve (core.config.checks)."""

from pathlib import Path

import pytest

from core.config.load import config_from_dict, load_config
from core.tasks import direction, metrics_for
from tests.core.test_config_load import assert_names_key

ROOT = Path(__file__).resolve().parents[2]

CROSS = [
    # (raw config, dotted key named in the error, words in the message)
    ({"optim": {"betas": [0.9]}}, "optim.betas", "two numbers"),
    ({"model": {"name": "trans former"}}, "model.name", "module:callable"),
    ({"model": {"name": "tcn", "bidirectional": True}}, "model.bidirectional", "causal"),
    ({"data": {"source": "npz"}}, "data.path", "required"),
    ({"schedule": {"name": "plateau"}}, "schedule.interval", "epoch"),
    ({"schedule": {"name": "plateau", "interval": "epoch", "warmup_steps": 2}},
     "schedule.warmup_steps", "not supported"),
    ({"experiment": {"device": "gpu"}}, "experiment.device", "cuda:N"),
    ({"experiment": {"name": "../x"}}, "experiment.name", "letters"),
    ({"training": {"checkpoint_metric": "val_loss", "checkpoint_mode": "max"}},
     "training.checkpoint_mode", "goes min"),
    ({"training": {"early_stopping": {"patience": 2, "metric": "val_accuracy",
                                      "mode": "min"}}}, "training.early_stopping.mode", "max"),
    ({"task": {"type": "regression", "loss": "bce"}}, "task.loss",
     "regression tasks train with mse or mae or huber"),
    ({"task": {"type": "binary"}, "training": {"checkpoint_metric": "val_macro_f1"}},
     "training.checkpoint_metric", "they produce train_loss, val_loss, val_auroc"),
    ({"training": {"early_stopping": {"metric": "val_rmse"}}}, "training.early_stopping.metric",
     "multiclass tasks do not produce 'val_rmse'"),
    ({"task": {"type": "binary"}, "training": {"checkpoint_metric": "val_auroc",
                                               "checkpoint_mode": "min"}},
     "training.checkpoint_mode", "val_auroc improves when it goes max"),
    ({"task": {"type": "binary", "class_weight": "balanced"}}, "task.class_weight",
     "task.pos_weight"),
    ({"task": {"class_weight": "heavy"}}, "task.class_weight", "none, balanced"),
    ({"task": {"class_weight": [1, -1]}}, "task.class_weight", "non-negative"),
    ({"task": {"pos_weight": 2.0}}, "task.pos_weight", "binary and multilabel"),
    ({"task": {"type": "binary", "pos_weight": -1}}, "task.pos_weight", "> 0"),
    ({"task": {"type": "binary", "pos_weight": "lots"}}, "task.pos_weight", "none, balanced"),
    ({"task": {"type": "binary", "loss": "focal", "pos_weight": "balanced"}}, "task.pos_weight",
     "focal_alpha"),
    ({"task": {"loss": "focal", "label_smoothing": 0.1}}, "task.label_smoothing",
     "cross_entropy"),
    ({"task": {"type": "binary", "focal_alpha": 0.25}}, "task.focal_alpha", "focal loss"),
    ({"task": {"positive_class": "yes"}}, "task.positive_class", "binary"),
    # a decision threshold means something for one positive/negative decision only
    ({"task": {"threshold": 0.3}}, "task.threshold", "applies to binary tasks, not multiclass"),
    ({"task": {"type": "multilabel", "threshold": 0.3}}, "task.threshold", "not multilabel"),
    ({"task": {"type": "regression", "threshold": 0.3}}, "task.threshold", "not regression"),
]


@pytest.mark.parametrize("raw,key,words", CROSS)
def test_cross_field_rule_names_key(raw, key, words):
    # The message names the file and the dotted key, and says what is wrong.
    assert_names_key(raw, key, words)


@pytest.mark.parametrize("task_type, metric", [
    ("multiclass", "val_accuracy"), ("binary", "val_auroc"), ("multilabel", "val_map"),
    ("regression", "val_rmse")])
def test_checkpoint_metric_defaults_per_task_and_modes_follow_the_metric(task_type, metric):
    t = config_from_dict({"task": {"type": task_type}}).training
    assert t.checkpoint_metric == metric
    # The directions are not written into the config (a snapshot or an exported config then
    # takes any later --set of the metric); core.tasks.direction gives them.
    assert t.checkpoint_mode is None and t.early_stopping.mode is None
    assert direction(task_type, t.checkpoint_metric) == ("min" if task_type == "regression"
                                                         else "max")
    assert t.early_stopping.metric == "val_loss"


SHIPPED = sorted(p for pattern in ("configs/*.yaml", "benchmarks/real/*.yaml")
                 for p in ROOT.glob(pattern) if not p.stem.endswith("_space"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_config_takes_any_checkpoint_metric_of_its_task(path):
    # No shipped config states a direction, so --set training.checkpoint_metric=<any metric of
    # the task> works (val_loss on every one; val_rmse on the regression ones).
    assert load_config(path).training.checkpoint_mode is None
    task_type = load_config(path).task.type
    for metric, mode in metrics_for(task_type).items():
        t = load_config(path, [f"training.checkpoint_metric={metric}"]).training
        assert t.checkpoint_metric == metric and direction(task_type, metric) == mode


def test_a_contradicting_old_mode_says_to_drop_it():
    assert_names_key({"training": {"checkpoint_metric": "val_loss", "checkpoint_mode": "max"}},
                     "training.checkpoint_mode", "drop training.checkpoint_mode")


def test_old_explicit_metric_and_mode_keep_working():
    t = config_from_dict({"training": {"checkpoint_metric": "val_macro_f1",
                                       "checkpoint_mode": "max", "early_stopping": {
                                           "patience": 2, "metric": "val_accuracy",
                                           "mode": "max"}}}).training
    assert (t.checkpoint_metric, t.checkpoint_mode) == ("val_macro_f1", "max")
    assert (t.early_stopping.metric, t.early_stopping.mode) == ("val_accuracy", "max")


@pytest.mark.parametrize("value,words", [("high", "expected a number"), (True, "expected a number"),
                                         (0, "must be > 0.0"), (1, "must be < 1.0"),
                                         (1.5, "must be < 1.0"), (-0.2, "must be > 0.0")])
def test_a_bad_binary_threshold_exits_2_naming_the_file_and_key(tmp_path, capsys, value, words):
    import yaml

    from core.train import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"task": {"type": "binary", "threshold": value}}))
    out = tmp_path / "run"
    assert main(["--config", str(cfg), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}: task.threshold: " in err and words in err and "Traceback" not in err, err
    assert not out.exists()
    assert config_from_dict({"task": {"type": "binary", "threshold": 0.3}}).task.threshold == 0.3
