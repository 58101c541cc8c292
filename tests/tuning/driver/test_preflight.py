"""The sweep's pre-flight: steps per epoch and per trial, batch sizes without a training batch,
warmups longer than a trial, and parameter pairs that make an invalid config."""

from pathlib import Path

import pytest

from core.config import ConfigError, config_to_dict, load_config
from tuning.driver import preflight
from tuning.space import parse_space

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "configs" / "gru.yaml"


def _run(params, overrides=(), n_train=70, max_epochs=20):
    space = parse_space({"base_config": str(BASE), "max_epochs": max_epochs, "params": params},
                        "space.yaml", ROOT)
    base = config_to_dict(load_config(BASE, list(overrides)))
    return preflight(space, base, n_train, str(BASE))


def _text(lines, level):
    return "\n".join(line for lv, line in lines if lv == level)


def test_steps_of_every_sampled_batch_size_and_small_data_warnings():
    lines = _run({"training.batch_size": {"type": "categorical", "choices": [16, 64, 512]},
                  "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}})
    info, warn = _text(lines, "info"), _text(lines, "warning")
    assert "training.batch_size 16: 5 optimizer steps per epoch, 100 per full trial" in info
    assert "training.batch_size 64: 2 optimizer steps per epoch, 40 per full trial" in info
    assert "params.training.batch_size 64 leaves 2 optimizer steps per epoch" in warn
    assert "params.training.batch_size 512 exceeds the train split (70 sequences)" in warn


def test_base_config_steps_when_the_batch_size_is_not_searched():
    lines = _run({"optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2}}, n_train=14000)
    assert "14000 training sequences in batches of 128: 110 optimizer steps per epoch, 2200 " \
           "in 20 epochs; warmup 110 steps (5% of the run)" in _text(lines, "info")
    assert _text(lines, "warning") == ""


def test_warmup_steps_longer_than_a_trial_is_a_warning():
    lines = _run({"schedule.warmup_steps": {"type": "int", "low": 0, "high": 300}},
                 overrides=["schedule.warmup_fraction=0", "training.batch_size=16"])
    assert "params.schedule.warmup_steps reaches 300 steps, but a full trial can be 100 steps" \
        in _text(lines, "warning")


def test_batch_size_without_a_training_batch_is_an_error_before_tune():
    # Issue 16 §1: drop_last with batch 512 and a train split of 250 sequences.
    with pytest.raises(ConfigError) as exc:
        _run({"optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2}},
             overrides=["loader.drop_last=true", "training.batch_size=512"], n_train=250)
    assert str(exc.value).startswith(f"{BASE}: training.batch_size: 512 with loader.drop_last")
    # A searched size that can leave none: the space's parameter is named.
    with pytest.raises(ConfigError) as exc:
        _run({"training.batch_size": {"type": "int", "low": 16, "high": 512}},
             overrides=["loader.drop_last=true"], n_train=250)
    assert "space.yaml: params.training.batch_size: value 512 with loader.drop_last" \
        in str(exc.value)


def test_pairs_that_make_an_invalid_config_are_named():
    lines = _run({"model.name": {"type": "categorical", "choices": ["gru", "tcn"]},
                  "model.bidirectional": {"type": "categorical", "choices": [False, True]}},
                 n_train=14000)
    warn = _text(lines, "warning")
    assert "model.name='tcn' with model.bidirectional=True gives an invalid config " \
           "(model.bidirectional: the tcn model is causal" in warn
    assert warn.count("gives an invalid config") == 1
    # A 'when:' that keeps the pair apart silences it.
    lines = _run({"model.name": {"type": "categorical", "choices": ["gru", "tcn"]},
                  "model.bidirectional": {"type": "categorical", "choices": [False, True],
                                          "when": {"model.name": "gru"}}}, n_train=14000)
    assert "invalid config" not in _text(lines, "warning")


def test_pairs_are_checked_with_the_fixed_values_their_conditions_bring():
    plateau = {"schedule.name": {"type": "categorical", "choices": ["cosine", "plateau"]},
               "model.name": {"type": "categorical", "choices": ["gru", "lstm"]},
               "schedule.warmup_fraction": {"type": "fixed", "value": 0,
                                            "when": {"schedule.name": "plateau"}}}
    # without interval: epoch, plateau with either model is invalid: both pairs are named
    warn = _text(_run(plateau, n_train=14000), "warning")
    assert "schedule.name='plateau' with model.name='gru' gives an invalid config" in warn
    # with it (fixed, only for plateau), every pair is valid and none is named
    plateau["schedule.interval"] = {"type": "fixed", "value": "epoch",
                                    "when": {"schedule.name": "plateau"}}
    assert "invalid config" not in _text(_run(plateau, n_train=14000), "warning")
