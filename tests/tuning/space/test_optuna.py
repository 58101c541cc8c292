"""tuning.space._optuna: the define-by-run function (a table of spec -> what it samples), its
conditions, distributions and misfits."""

from pathlib import Path

import optuna
import pytest

from tuning.space import compile_space, distributions, misfits, parse_space

ROOT = Path(__file__).resolve().parents[3]
BASE = str(ROOT / "configs" / "gru.yaml")
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _space(params):
    return parse_space({"base_config": BASE, "params": params}, "space.yaml", ROOT)


def _sample(params, n=200, seed=0):
    define = compile_space(params)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(define(trial))
        study.tell(trial, 0.0)
    return out


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


def test_misfits_name_the_values_another_space_cannot_draw():
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
