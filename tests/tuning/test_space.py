from pathlib import Path

import optuna
import pytest

from core.config import ConfigError
from tuning.space import (
    Param,
    asha_rungs,
    compile_space,
    condition_holds,
    load_space,
    parse_space,
)

ROOT = Path(__file__).resolve().parents[2]
BASE = str(ROOT / "configs" / "gru.yaml")


def _space(params, **top):
    return parse_space({"base_config": BASE, "params": params, **top}, "space.yaml", ROOT)


def _sample(params, n=200, seed=0):
    define = compile_space(params)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(define(trial))
        study.tell(trial, 0.0)
    return out


optuna.logging.set_verbosity(optuna.logging.WARNING)

TABLE = [
    # (spec, check on the sampled values)
    ({"type": "int", "low": 1, "high": 3}, lambda vs: set(vs) == {1, 2, 3}),
    ({"type": "int", "low": 0, "high": 300, "step": 50},
     lambda vs: set(vs) == {0, 50, 100, 150, 200, 250, 300}),
    ({"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
     lambda vs: min(vs) >= 1e-4 and max(vs) <= 1e-1 and sum(v < 1e-2 for v in vs) > 100),
    ({"type": "float", "low": 0.0, "high": 0.5, "step": 0.25},
     lambda vs: set(vs) == {0.0, 0.25, 0.5}),
    ({"type": "categorical", "choices": [64, 128, "x"]}, lambda vs: set(vs) == {64, 128, "x"}),
    ({"type": "fixed", "value": 7}, lambda vs: set(vs) == {7}),
    (0.5, lambda vs: set(vs) == {0.5}),
    ({"type": "float", "low": "1e-3", "high": "1e-2", "log": True},
     lambda vs: all(1e-3 <= v <= 1e-2 for v in vs)),
]


@pytest.mark.parametrize("spec,check", TABLE, ids=[str(i) for i in range(len(TABLE))])
def test_compile_table(spec, check):
    space = _space({"optim.lr": spec})
    values = [s["optim.lr"] for s in _sample(space.params)]
    # Every bound is reachable and nothing falls outside: bounds are inclusive.
    assert check(values), sorted(set(values))[:10]


def test_conditional_parameter_exists_only_when_condition_holds():
    space = _space({
        "model.num_layers": {"type": "int", "low": 1, "high": 3},
        "model.dropout": {"type": "float", "low": 0.0, "high": 0.4,
                          "when": {"model.num_layers": {"gt": 1}}},
        "schedule.warmup_steps": {"type": "int", "low": 0, "high": 10,
                                  "when": {"schedule.name": "cosine"}},
        "schedule.name": {"type": "categorical", "choices": ["cosine", "none"]},
    })
    samples = _sample(space.params)
    for s in samples:
        assert ("model.dropout" in s) == (s["model.num_layers"] > 1)
        assert ("schedule.warmup_steps" in s) == (s["schedule.name"] == "cosine")
    assert any("model.dropout" in s for s in samples) and \
        any("model.dropout" not in s for s in samples)


def test_conditions():
    assert condition_holds({"gt": 1}, 2) and not condition_holds({"gt": 1}, 1)
    assert condition_holds(["a", "b"], "b") and not condition_holds(["a"], "c")
    assert condition_holds("cosine", "cosine") and not condition_holds("cosine", "none")


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
    ({"params": {"optim.lr": 0.1}, "metric": "val_acc"}, "metric", "one of"),
    ({"params": {"optim.lr": 0.1}, "metric": "val_loss", "mode": "max"}, "mode", "improves"),
    ({"params": {"optim.lr": 0.1}, "num_samples": 0}, "num_samples", ">= 1"),
    ({"params": {"optim.lr": 0.1}, "scheduler": {"grace_period": 50}},
     "scheduler.grace_period", "max_epochs"),
    ({"params": {"optim.lr": 0.1}, "sampler": {"name": "cmaes"}}, "sampler.name", "tpe"),
    ({"params": {"optim.lr": 0.1}, "resources": {"gpus": 1}}, "resources.gpus", "unknown key"),
    ({"params": {"optim.lr": 0.1}, "extra": 1}, "extra", "unknown key"),
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


def test_misfits_name_the_values_another_space_cannot_draw():
    from tuning.space import distributions, misfits

    space = _space({"model.hidden_size": {"type": "categorical", "choices": [16, 32, 64]},
                    "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
                    "model.num_layers": {"type": "int", "low": 1, "high": 3}})
    assert misfits({"model.hidden_size": 32, "optim.lr": 1e-3, "model.num_layers": 2},
                   space.params) == []
    assert misfits({"model.hidden_size": 256, "optim.lr": 0.1, "model.width": 3},
                   space.params) == [
        "model.hidden_size=256 is not among the choices [16, 32, 64]",
        "optim.lr=0.1 is outside [0.0001, 0.01]",
        "model.width is not sampled by this space"]
    assert set(distributions(space.params)) == {"model.hidden_size", "optim.lr",
                                                "model.num_layers"}


def test_cpu_section_scales_the_space_and_is_validated():
    from tuning.space import scaled_for_cpu

    raw = {"base_config": BASE, "num_samples": 48, "max_epochs": 20,
           "params": {"model.hidden_size": {"type": "categorical", "choices": [64, 256]},
                      "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2}},
           "cpu": {"num_samples": 12, "max_epochs": 10,
                   "params": {"model.hidden_size": {"type": "categorical", "choices": [64]}},
                   "set": {"data.synthetic.num_samples": 4000}}}
    parse_space(raw, "space.yaml", ROOT)  # valid
    scaled, overrides, changes = scaled_for_cpu(raw)
    assert "cpu" not in scaled and scaled["num_samples"] == 12 and scaled["max_epochs"] == 10
    assert scaled["params"]["model.hidden_size"]["choices"] == [64]
    assert scaled["params"]["optim.lr"] == raw["params"]["optim.lr"]
    assert overrides == ["data.synthetic.num_samples=4000"]
    assert "num_samples 48 -> 12" in changes
    bad = {**raw, "cpu": {"max_epochs": 0, "set": {"data.size": 1}, "speed": 2}}
    with pytest.raises(ConfigError) as exc:
        parse_space(bad, "space.yaml", ROOT)
    keys = {k for k, _ in exc.value.problems}
    assert {"cpu.speed"} <= keys
    bad = {**raw, "cpu": {"max_epochs": 0, "set": {"data.size": 1}}}
    with pytest.raises(ConfigError) as exc:
        parse_space(bad, "space.yaml", ROOT)
    assert {k for k, _ in exc.value.problems} == {"cpu.max_epochs", "cpu.set.data.size"}


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
    assert "metrics regression tasks produce: train_loss, val_loss, val_rmse" in str(info.value)
    # no metric: the task's default checkpoint metric, in its direction
    space = parse_space({"base_config": base, "params": {"optim.lr": 0.1}}, "space.yaml", ROOT)
    assert (space.metric, space.mode) == ("val_rmse", "min")


def test_space_reference_is_current():
    from tuning.space import reference_markdown_space

    # Generated from SpaceSettings: regenerate it with python -m tuning.space.
    assert reference_markdown_space() in (ROOT / "docs" / "config-reference.md").read_text()


def test_space_settings_are_validated_like_the_config():
    raw = {"base_config": BASE, "params": {"optim.lr": 0.1}, "num_samples": "many",
           "sampler": {"name": "tpe", "seed": True}, "resources": {"cpus_per_trial": "2e0"},
           "checkpoint_interval_s": "1e1"}
    with pytest.raises(ConfigError) as info:
        parse_space(raw, "space.yaml", ROOT)
    # The training config's messages, in its format: file, dotted key, message.
    assert str(info.value).splitlines() == [
        "space.yaml: num_samples: expected an integer, got 'many'",
        "space.yaml: sampler.seed: expected an integer, got True"]
    raw.update(num_samples=4, sampler={"seed": 1})
    space = parse_space(raw, "space.yaml", ROOT)
    # YAML 1.1's 1e1 (a string) is a number, as in the training config.
    assert (space.cpus_per_trial, space.checkpoint_interval_s) == (2.0, 10.0)

