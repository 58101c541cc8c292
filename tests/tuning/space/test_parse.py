"""tuning.space: a space file read and validated into a SearchSpace; ASHA's rungs."""

from pathlib import Path

import pytest

from core.config import ConfigError
from tuning.space import Param, asha_rungs, load_space, parse_space

ROOT = Path(__file__).resolve().parents[3]
BASE = str(ROOT / "configs" / "gru.yaml")


def _space(params, **top):
    return parse_space({"base_config": BASE, "params": params, **top}, "space.yaml", ROOT)


BAD = [
    ({"params": {"optim.lr": {"type": "float", "low": 1, "high": 0.1}}}, "params.optim.lr.low",
     "greater than high"),
    ({"params": {"optim.lr": {"type": "float", "low": 0, "high": 1, "log": True}}},
     "params.optim.lr.low", "log scale"),
    ({"params": {"model.hidden_size": {"type": "categorical", "choices": []}}},
     "params.model.hidden_size.choices", "non-empty"),
    ({"params": {"model.dropout": {"type": "float", "low": 0, "high": 0.3,
                                   "when": {"model.layers": {"gt": 1}}}}},
     "params.model.dropout.when.model.layers", "unknown parameter"),
    ({"params": {"model.width": {"type": "int", "low": 1, "high": 3}}}, "params.model.width",
     "not a config key"),
    ({"params": {"optim.lr": {"type": "uniform", "low": 1, "high": 3}}}, "params.optim.lr.type",
     "one of"),
    ({"params": {"optim.lr": {"type": "float", "low": "abc", "high": 3}}}, "params.optim.lr.low",
     "number"),
    ({"params": {"model.num_layers": {"type": "int", "low": 1.5, "high": 3}}},
     "params.model.num_layers.low", "integer"),
    ({"params": {"optim.lr": {"type": "float", "lo": 1, "high": 3}}}, "params.optim.lr.lo",
     "unknown key"),
    ({"params": {"training.epochs": {"type": "int", "low": 1, "high": 3}}},
     "params.training.epochs", "max_epochs"),
    ({"params": {}}, "params", "non-empty"),
    ({"params": {"optim.lr": 0.1}, "metric": "val_acc"}, "metric", "do not produce"),
    ({"params": {"optim.lr": 0.1}, "metric": "val_loss", "mode": "max"}, "mode", "improves"),
    ({"params": {"optim.lr": 0.1}, "num_samples": 0}, "num_samples", ">= 1"),
    ({"params": {"optim.lr": 0.1}, "scheduler": {"grace_period": 50}},
     "scheduler.grace_period", "max_epochs"),
    ({"params": {"optim.lr": 0.1}, "sampler": {"name": "cmaes"}}, "sampler.name", "tpe"),
    ({"params": {"optim.lr": 0.1}, "resources": {"gpus": 1}}, "resources.gpus", "unknown key"),
    # cpu: is read by its own parser (tuning.space._cpu) and still named among the known keys
    ({"params": {"optim.lr": 0.1}, "extra": 1}, "extra", "tracking, params, cpu)"),
    ({"params": {"optim.lr": 0.1}, "checkpoint_interval_s": -1}, "checkpoint_interval_s",
     ">= 0"),
]


@pytest.mark.parametrize("raw,key,words", BAD, ids=[b[1] for b in BAD])
def test_bad_space_names_key(raw, key, words):
    with pytest.raises(ConfigError) as info:
        parse_space({"base_config": BASE, **raw}, "space.yaml", ROOT)
    assert any(k == key for k, _ in info.value.problems), info.value.problems
    assert words in str(info.value) and "space.yaml:" in str(info.value)


def test_missing_base_config_and_cycle():
    with pytest.raises(ConfigError, match="base_config: file not found"):
        parse_space({"base_config": "nope.yaml", "params": {"optim.lr": 0.1}}, "s.yaml", ROOT)
    with pytest.raises(ConfigError, match="cycle"):
        _space({"optim.lr": {"type": "float", "low": 0.1, "high": 1,
                             "when": {"optim.eps": {"gt": 0}}},
                "optim.eps": {"type": "float", "low": 0.1, "high": 1,
                              "when": {"optim.lr": {"gt": 0}}}})


@pytest.mark.parametrize("path", sorted((ROOT / "search_spaces").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_space_validates(path):
    space = load_space(path)
    assert space.params and space.base_config.is_file()


def test_params_keep_dependency_order():
    space = _space({"model.dropout": {"type": "float", "low": 0, "high": 0.3,
                                      "when": {"model.num_layers": {"gt": 1}}},
                    "model.num_layers": {"type": "int", "low": 1, "high": 3}})
    assert [p.name for p in space.params] == ["model.num_layers", "model.dropout"]
    assert isinstance(space.params[0], Param)


def test_asha_rungs_are_the_grace_period_times_powers_of_the_reduction_factor():
    assert asha_rungs(2, 3, 20) == (2, 6, 18)
    assert asha_rungs(1, 2, 4) == (1, 2, 4)  # the last epoch is a rung when it falls on one
    assert asha_rungs(4, 2, 4) == (4,)
    space = load_space(ROOT / "search_spaces" / "gru.yaml")
    assert space.rungs == asha_rungs(space.grace_period, space.reduction_factor, space.max_epochs)


@pytest.mark.parametrize("task_type", ["binary", "multilabel", "regression"])
def test_shipped_task_spaces_score_a_metric_of_their_task_in_its_direction(task_type):
    from core.config import load_config
    from core.tasks import metrics_for

    space = load_space(ROOT / "search_spaces" / f"{task_type}.yaml")
    assert load_config(space.base_config).task.type == task_type
    assert space.mode == metrics_for(task_type)[space.metric]


def test_space_metric_must_be_one_its_base_task_produces():
    base = str(ROOT / "configs" / "regression.yaml")
    with pytest.raises(ConfigError) as info:
        parse_space({"base_config": base, "params": {"optim.lr": 0.1}, "metric": "val_auroc"},
                    "space.yaml", ROOT)
    assert "space.yaml: metric: regression tasks do not produce 'val_auroc'; they produce " \
           "train_loss, val_loss, val_rmse" in str(info.value)
    # no metric: the task's default checkpoint metric, in its direction
    space = parse_space({"base_config": base, "params": {"optim.lr": 0.1}}, "space.yaml", ROOT)
    assert (space.metric, space.mode) == ("val_rmse", "min")


def test_confirmation_seeds_count_only_when_confirmation_is_on():
    # SpaceSettings declares seeds: 3 once; the space's confirm_seeds is 0 while top_k is 0.
    base = str(ROOT / "configs" / "gru.yaml")
    off = parse_space({"base_config": base, "params": {"optim.lr": 0.1}}, "space.yaml", ROOT)
    assert (off.confirm_top_k, off.confirm_seeds, off.settings.confirm.seeds) == (0, 0, 3)
    on = parse_space({"base_config": base, "params": {"optim.lr": 0.1},
                      "confirm": {"top_k": 2}}, "space.yaml", ROOT)
    assert (on.confirm_top_k, on.confirm_seeds) == (2, 3)


def test_space_settings_are_read_from_their_one_declaration():
    from tuning.space import SpaceSettings

    space = parse_space({"base_config": str(ROOT / "configs" / "gru.yaml"),
                         "params": {"optim.lr": 0.1}, "scheduler": {"grace_period": 3},
                         "sampler": {"seed": 7}, "resources": {"cpus_per_trial": 2}},
                        "space.yaml", ROOT)
    assert isinstance(space.settings, SpaceSettings)
    assert (space.grace_period, space.reduction_factor, space.sampler_seed,
            space.cpus_per_trial, space.num_samples) == (3, 3, 7, 2, 32)
    assert space.rungs == (3, 9)


def test_base_task_type_follows_the_set_overrides():
    from tuning.space import base_task_type

    base = ROOT / "configs" / "gru.yaml"
    assert base_task_type(base) == "multiclass"
    assert base_task_type(base, ["task.type=regression"]) == "regression"
    assert base_task_type(ROOT / "no-such.yaml") == "multiclass"
