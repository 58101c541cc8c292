"""tuning.space._edit: a parsed space edited without parsing its file again."""

import copy
from pathlib import Path

import pytest

import tuning.space._parse as parse_module
from core.config import ConfigError
from tuning.space import edited, parse_space

ROOT = Path(__file__).resolve().parents[3]
BASE = str(ROOT / "configs" / "gru.yaml")
RAW = {"base_config": BASE, "num_samples": 12, "max_epochs": 9,
       "scheduler": {"grace_period": 3, "reduction_factor": 3},
       "sampler": {"seed": 4},
       "params": {"model.num_layers": {"type": "int", "low": 1, "high": 3},
                  "model.dropout": {"type": "float", "low": 0.0, "high": 0.5,
                                    "when": {"model.num_layers": {"gt": 1}}},
                  "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
       "cpu": {"num_samples": 4, "params": {"optim.lr": 0.001}}}


def _parsed():
    return parse_space(copy.deepcopy(RAW), "space.yaml", ROOT)


def test_an_edit_gives_the_space_a_parse_of_the_edited_file_gives(monkeypatch):
    space = _parsed()
    raw = copy.deepcopy(space.raw)
    raw.pop("cpu")
    raw.update(num_samples=5, scheduler={"grace_period": 1, "reduction_factor": 2},
               base_config=str(space.base_config))
    raw["resources"] = {"trials_per_gpu": 2}
    raw["params"]["optim.lr"] = {"type": "fixed", "value": 0.003}  # replaced in place
    raw["params"]["model.hidden_size"] = {"type": "categorical", "choices": [8, 16]}  # added
    del raw["params"]["model.dropout"]
    calls = []
    monkeypatch.setattr(parse_module, "parse_space",
                        lambda *a, **k: calls.append(a) or pytest.fail("parsed again"))
    out = edited(space, raw)
    assert calls == []
    monkeypatch.undo()
    again = parse_space(copy.deepcopy(raw), "space.yaml", ROOT)
    assert out.settings == again.settings and out.params == again.params
    assert out.raw == raw and "cpu" not in out.raw
    assert (out.num_samples, out.grace_period, out.trials_per_gpu, out.sampler_seed) == \
        (5, 1, 2, 4)
    # the space edited is left as it was
    assert space.num_samples == 12 and space.raw == RAW


def test_a_changed_value_is_checked_under_its_key_and_the_rules_across_keys():
    space = _parsed()
    for change, key, words in [
            ({"num_samples": 0}, "num_samples", "must be >= 1"),
            ({"resources": {"trials_per_gpu": "two"}}, "resources.trials_per_gpu", "integer"),
            ({"max_epochs": 2}, "scheduler.grace_period", "must be <= max_epochs (2)"),
            ({"trials": 3}, "trials", "unknown key"),
            ({"params": {"optim.lr": {"type": "float", "low": 1, "high": 0.1}}},
             "params.optim.lr.low", "greater than high"),
            ({"params": {}}, "params", "non-empty")]:
        with pytest.raises(ConfigError) as info:
            edited(space, {**space.raw, **change})
        assert any(k == key and words in m for k, m in info.value.problems), \
            info.value.problems
        assert str(info.value).startswith("space.yaml: ")
    # a condition on a parameter an edit removed, as the file's own would be
    raw = copy.deepcopy(space.raw)
    del raw["params"]["model.num_layers"]
    with pytest.raises(ConfigError, match="params.model.dropout.when.model.num_layers"):
        edited(space, raw)


def test_what_is_read_with_the_file_is_not_an_edit():
    space = _parsed()
    for change in ({"metric": "val_loss"}, {"mode": "max"}, {"base_config": "other.yaml"},
                   {"cpu": {"num_samples": 2}}):
        with pytest.raises(ValueError):
            edited(space, {**space.raw, **change})
