"""search_spaces/tsc.yaml: every configuration it draws is a valid config and a buildable model."""

from pathlib import Path

import optuna

from core.config import config_to_dict, load_config
from core.models import check_model
from tuning.space import compile_space, load_space, trial_config

ROOT = Path(__file__).resolve().parents[3]
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


def test_sizes_derived_from_the_number_of_training_series():
    from tuning.driver import derive_sizes

    # 67 series (ItalyPowerDemand), 5 folds: a fold model trains on 53; 53/8 steps rounds the
    # largest batch down to 4, raised to the floor 8; ceil(53/8) = 7 steps, 143 epochs.
    s = derive_sizes(67, 30, 5, 0.2)
    assert (s.cv_folds, s.fit_sequences, s.batch_sizes, s.max_epochs, s.grace_period) == \
        (5, 53, [4, 8], 143, 14)
    # 1,000 series: batches up to 64, 13 steps per epoch, 77 epochs.
    s = derive_sizes(1000, 100, 5, 0.2)
    assert (s.batch_sizes, s.max_epochs, s.grace_period) == ([16, 32, 64], 77, 7)
    # The smallest class bounds the folds; a class of one series turns CV off.
    assert derive_sizes(40, 3, 5, 0.2).cv_folds == 3
    s = derive_sizes(30, 1, 5, 0.2)
    assert (s.cv_folds, s.fit_sequences, s.max_epochs) == (0, 24, 300)
    assert derive_sizes(140, None, 5, 0.2).cv_folds == 5  # regression: no classes


def test_tsc_space_is_sized_to_its_data_file_at_pre_flight():
    from tuning.driver import SweepOptions, prepare

    data = ROOT / "tests" / "data" / "italy_power_demand.npz"
    opts = SweepOptions(space=ROOT / "search_spaces" / "tsc.yaml", storage_path="/nonexistent",
                        overrides=["data.source=npz", f"data.path={data}"])
    sweep = prepare(opts)
    assert sweep.spec["base"]["data"]["cv_folds"] == 5 and sweep.space.max_epochs == 143
    assert sweep.spec["space"]["params"]["training.batch_size"]["choices"] == [4, 8]
    assert sweep.space.settings.scheduler.grace_period == 14 and sweep.space.settings.ensemble == 5
    lines = [line for _, line in sweep.checks]
    assert lines[0].startswith("sized to the data (size_to_data): 67 non-test sequences")
    # What the user sets is kept.
    kept = prepare(SweepOptions(space=opts.space, storage_path="/nonexistent", max_epochs=20,
                                overrides=[*opts.overrides, "data.cv_folds=3"]))
    assert kept.space.max_epochs == 20 and kept.spec["base"]["data"]["cv_folds"] == 3
    assert kept.space.settings.scheduler.grace_period == 2  # a tenth of the trial
