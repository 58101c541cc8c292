"""tuning.space._params: params entries parsed into Params, conditions, dependency order."""

import pytest

from core.config import ConfigError
from tuning.space import Param, condition_holds, order_params, parse_params


def test_conditions():
    assert condition_holds({"gt": 1}, 2) and not condition_holds({"gt": 1}, 1)
    assert condition_holds(["a", "b"], "b") and not condition_holds(["a"], "c")
    assert condition_holds("cosine", "cosine") and not condition_holds("cosine", "none")


def test_entries_parse_into_params_and_problems_name_their_keys():
    problems = []
    params = parse_params({
        "optim.lr": {"type": "float", "low": "1e-4", "high": 1e-2, "log": True},
        "model.num_layers": {"type": "int", "low": 1, "high": 3.0},
        "model.dropout": {"type": "float", "low": 0.0, "high": 0.4,
                          "when": {"model.num_layers": {"gt": 1}}},
        "training.grad_clip_norm": 1.0,
        "model.width": 3,
        "training.batch_size": [32, 64],
    }, problems)
    # Valid entries become Params (YAML 1.1's "1e-4" a number, 3.0 an int); the others are
    # left out, each problem under its dotted key.
    assert params == [Param("optim.lr", "float", 1e-4, 1e-2, True),
                      Param("model.num_layers", "int", 1, 3),
                      Param("model.dropout", "float", 0.0, 0.4,
                            when=(("model.num_layers", {"gt": 1}),)),
                      Param("training.grad_clip_norm", "fixed", value=1.0)]
    assert [k for k, _ in problems] == ["params.model.width", "params.training.batch_size"]


def test_order_puts_each_param_after_the_ones_its_condition_reads():
    a = Param("a", "int", 1, 3, when=(("b", 1),))
    b = Param("b", "int", 1, 3)
    assert order_params([a, b], "s.yaml") == [b, a]
    # A condition on itself, or a cycle, is refused naming the file and key.
    with pytest.raises(ConfigError, match="s.yaml: params.a.when: a parameter cannot depend"):
        order_params([Param("a", "int", 1, 3, when=(("a", 1),))], "s.yaml")
    with pytest.raises(ConfigError, match="cycle among: a, b"):
        order_params([a, Param("b", "int", 1, 3, when=(("a", 1),))], "s.yaml")
