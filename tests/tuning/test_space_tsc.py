"""search_spaces/tsc.yaml: every configuration it draws is a valid config and a buildable model."""

from pathlib import Path

import optuna

from core.config import config_to_dict, load_config
from core.models import check_model
from tuning.space import compile_space, load_space, trial_config

ROOT = Path(__file__).resolve().parents[2]
optuna.logging.set_verbosity(optuna.logging.WARNING)
FAMILY_KEYS = {"model.filters": {"fcn", "resnet", "inception_time"},
               "model.depth": {"resnet", "inception_time"},
               "model.bottleneck": {"inception_time"}, "model.rocket_features": {"minirocket"},
               "model.hidden_size": {"gru", "lstm"}, "model.num_layers": {"gru", "lstm"},
               "model.bidirectional": {"gru", "lstm"}, "model.pooling": {"gru", "lstm"}}


def test_every_draw_of_the_tsc_space_is_a_valid_config_and_model():
    space = load_space(ROOT / "search_spaces" / "tsc.yaml")
    base = config_to_dict(load_config(space.base_config))
    define = compile_space(space.params)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: dict[str, int] = {}
    for _ in range(300):
        trial = study.ask()
        params = define(trial)
        study.tell(trial, 0.0)
        name = params["model.name"]
        seen[name] = seen.get(name, 0) + 1
        for key, families in FAMILY_KEYS.items():
            assert (key in params) == (name in families), (key, name)
        cfg = trial_config(base, params, space.max_epochs, "tsc.yaml")  # raises if invalid
        assert 8 <= cfg.training.batch_size <= 64
        if seen[name] <= 3:  # (CPU time) builds the model, runs a probe batch (minirocket: fitted)
            check_model(cfg.model, 2, 3, seq_len=30, source="tsc.yaml")
    assert set(seen) == {"fcn", "resnet", "inception_time", "minirocket", "gru", "lstm"}
