"""tuning.space._trial_config: a trial's config from the base config and the sampled values."""

from pathlib import Path

import pytest

from core.config import ConfigError, config_to_dict, load_config
from tuning.space import trial_config

ROOT = Path(__file__).resolve().parents[3]


def _base(**experiment) -> dict:
    base = config_to_dict(load_config(ROOT / "configs" / "gru.yaml"))
    base["experiment"].update(experiment)
    return base


def test_sampled_values_epochs_and_no_early_stopping():
    cfg = trial_config(_base(), {"model.hidden_size": 24, "optim.lr": 0.01}, 7, "<t>")
    assert (cfg.model.hidden_size, cfg.optim.lr, cfg.training.epochs) == (24, 0.01, 7)
    # ASHA stops trials early, not the loop.
    assert cfg.training.early_stopping.patience == 0


def test_the_cpu_share_becomes_the_thread_count_unless_the_base_sets_one():
    assert trial_config(_base(num_threads=0), {}, 2, "<t>", 2.5).experiment.num_threads == 2
    assert trial_config(_base(num_threads=0), {}, 2, "<t>", 0.5).experiment.num_threads == 1
    assert trial_config(_base(num_threads=3), {}, 2, "<t>", 8).experiment.num_threads == 3


def test_a_value_that_breaks_the_config_names_the_source():
    with pytest.raises(ConfigError) as info:
        trial_config(_base(), {"model.hidden_size": "big"}, 2, "trial t0003")
    assert str(info.value).startswith("trial t0003: model.hidden_size")
