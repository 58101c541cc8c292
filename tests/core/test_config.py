from pathlib import Path

import pytest

from core.config import (
    Config,
    ConfigError,
    config_from_dict,
    load_config,
    load_yaml,
    parse_override,
    reference,
)

ROOT = Path(__file__).resolve().parents[2]

BAD = [
    # (raw config, dotted key named in the error, words in the message)
    ({"training": {"epochs": 0}}, "training.epochs", ">= 1"),
    ({"training": {"epochs": "ten"}}, "training.epochs", "integer"),
    ({"training": {"epochs": True}}, "training.epochs", "integer"),
    ({"training": {"epoch": 3}}, "training.epoch", "unknown key"),
    ({"trainig": {"epochs": 3}}, "trainig", "unknown key"),
    ({"optim": {"lr": -1}}, "optim.lr", "> 0"),
    ({"optim": {"lr": "fast"}}, "optim.lr", "number"),
    ({"optim": {"lr": float("nan")}}, "optim.lr", "finite"),
    ({"optim": {"name": "lamb"}}, "optim.name", "one of"),
    ({"optim": {"betas": [0.9]}}, "optim.betas", "two numbers"),
    ({"model": {"name": "trans former"}}, "model.name", "module:callable"),
    ({"model": {"kwargs": {1: 2}}}, "model.kwargs", "string keys"),
    ({"model": {"dropout": 1.0}}, "model.dropout", "< 1"),
    ({"model": {"name": "tcn", "bidirectional": True}}, "model.bidirectional", "causal"),
    ({"model": {"bidirectional": "yes"}}, "model.bidirectional", "true or false"),
    ({"data": {"source": "npz"}}, "data.path", "required"),
    ({"data": {"val_fraction": 0.0}}, "data.val_fraction", "> 0"),
    ({"data": {"synthetic": {"num_motifs": 9}}}, "data.synthetic.num_motifs", "<= 6"),
    ({"data": {"synthetic": "big"}}, "data.synthetic", "mapping"),
    ({"schedule": {"name": "plateau"}}, "schedule.interval", "epoch"),
    ({"schedule": {"name": "plateau", "interval": "epoch", "warmup_steps": 2}},
     "schedule.warmup_steps", "not supported"),
    ({"experiment": {"device": "gpu"}}, "experiment.device", "cuda:N"),
    ({"experiment": {"name": "../x"}}, "experiment.name", "letters"),
    ({"training": {"checkpoint_metric": "val_loss", "checkpoint_mode": "max"}},
     "training.checkpoint_mode", "goes min"),
    ({"training": {"early_stopping": {"patience": 2, "metric": "val_accuracy",
                                      "mode": "min"}}}, "training.early_stopping.mode", "max"),
    ({"loader": {"prefetch_factor": 0}}, "loader.prefetch_factor", ">= 1"),
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
    ({"task": {"type": "ranking"}}, "task.type", "one of"),
]


@pytest.mark.parametrize("raw,key,words", BAD)
def test_bad_config_names_key(raw, key, words):
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, "cfg.yaml")
    # The message names the file and the dotted key, and says what is wrong.
    assert any(k == key for k, _ in info.value.problems), info.value.problems
    text = str(info.value)
    assert f"cfg.yaml: {key}:" in text and words in text


@pytest.mark.parametrize("task_type, metric", [
    ("multiclass", "val_accuracy"), ("binary", "val_auroc"), ("multilabel", "val_map"),
    ("regression", "val_rmse")])
def test_checkpoint_metric_defaults_per_task_and_modes_follow_the_metric(task_type, metric):
    t = config_from_dict({"task": {"type": task_type}}).training
    assert t.checkpoint_metric == metric
    assert t.checkpoint_mode == ("min" if task_type == "regression" else "max")
    assert t.early_stopping.metric == "val_loss" and t.early_stopping.mode == "min"


def test_old_explicit_metric_and_mode_keep_working():
    t = config_from_dict({"training": {"checkpoint_metric": "val_macro_f1",
                                       "checkpoint_mode": "max", "early_stopping": {
                                           "patience": 2, "metric": "val_accuracy",
                                           "mode": "max"}}}).training
    assert (t.checkpoint_metric, t.checkpoint_mode) == ("val_macro_f1", "max")
    assert (t.early_stopping.metric, t.early_stopping.mode) == ("val_accuracy", "max")


def test_all_problems_reported_at_once():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"training": {"epochs": 0, "batch_size": -1}, "optim": {"lr": 0}})
    keys = {k for k, _ in info.value.problems}
    assert {"training.epochs", "training.batch_size", "optim.lr"} <= keys


def test_scientific_notation_string_is_a_number():
    # PyYAML reads 1e-3 as a string; float fields accept it as the number it means.
    cfg = config_from_dict({"optim": {"lr": "1e-3"}})
    assert cfg.optim.lr == pytest.approx(1e-3) and isinstance(cfg.optim.lr, float)


def test_int_given_for_float_becomes_float():
    assert isinstance(config_from_dict({"optim": {"lr": 1}}).optim.lr, float)


def test_duplicate_yaml_key_is_an_error(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("training:\n  epochs: 3\n  epochs: 4\n")
    with pytest.raises(ConfigError, match="duplicate key 'epochs'"):
        load_yaml(p)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_config(tmp_path / "nope.yaml")


def test_python_tag_is_refused(tmp_path):
    canary = tmp_path / "canary"
    p = tmp_path / "evil.yaml"
    p.write_text(f"experiment: !!python/object/apply:os.system ['touch {canary}']\n")
    with pytest.raises(ConfigError):
        load_yaml(p)
    assert not canary.exists()


def test_overrides_parse_yaml_scalars_and_validate(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("training:\n  epochs: 5\n")
    cfg = load_config(p, ["training.epochs=3", "model.hidden_size=64", "optim.betas=[0.8, 0.9]",
                          "model.bidirectional=true"])
    assert cfg.training.epochs == 3 and cfg.model.hidden_size == 64
    assert cfg.optim.betas == [0.8, 0.9] and cfg.model.bidirectional is True
    with pytest.raises(ConfigError) as info:
        load_config(p, ["training.epochs=0"])
    assert "(with --set)" in str(info.value) and "training.epochs" in str(info.value)
    assert parse_override("a.b=1e-3") == ("a.b", "1e-3")


def test_override_into_a_value_is_an_error(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("training:\n  epochs: 5\n")
    with pytest.raises(ConfigError, match="training.epochs: is not a section"):
        load_config(p, ["training.epochs.x=1"])


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    assert isinstance(load_config(path), Config)


def test_reference_documents_every_field():
    rows = reference()
    assert len(rows) > 40
    assert all(doc for _, _, doc in rows), [k for k, _, d in rows if not d]


def test_config_reference_is_current():
    from core.config import reference_markdown

    # docs/config-reference.md's table is generated from the schema: regenerate it with
    # python -m core.config.
    assert reference_markdown() in (ROOT / "docs" / "config-reference.md").read_text()
