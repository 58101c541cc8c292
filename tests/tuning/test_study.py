"""tuning.study: opening and loading the sweep's study, its sampler, warm start."""

import optuna
import pytest
from optuna.trial import TrialState

from tests.tuning.conftest import SPACE
from tuning.experiment import read_spec, space_of
from tuning.space import load_space
from tuning.study import count_finished, load_study, make_sampler, open_study, warm_start

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_readers_never_create_the_study_database(tmp_path):
    with pytest.raises(ValueError, match="no study.db"):
        load_study(tmp_path)
    assert list(tmp_path.iterdir()) == []
    # The driver creates it whole, by renaming a finished file into place.
    _, storage = open_study(tmp_path, "x", load_space(SPACE))
    assert {p.name for p in tmp_path.iterdir()} <= {"study.db", "study.db-wal", "study.db-shm"}
    storage.close()  # SQLite folds its write-ahead log back in: one file again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]
    assert load_study(tmp_path).study_name == "x"


def test_a_reopened_study_shifts_its_sampler_seed(tmp_path):
    space = load_space(SPACE)
    study, storage = open_study(tmp_path, "x", space)
    first = study.ask().suggest_float("optim.lr", 1e-4, 3e-2, log=True)
    storage.close()
    study, storage = open_study(tmp_path, "x", space)
    # A resumed sweep must not replay its first start's draws.
    assert study.ask().suggest_float("optim.lr", 1e-4, 3e-2, log=True) != first
    storage.close()


def test_warm_start_copies_finished_trials(smoke, tmp_path):
    exp, _ = smoke
    space = space_of(read_spec(exp), "sweep.yaml")
    study, _ = open_study(tmp_path, "new", space)
    added = warm_start(study, exp, space)
    old = load_study(exp).get_trials()
    kept = [t for t in old if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert added == len(kept) > 0
    new = study.get_trials()
    assert [t.params for t in new] == [t.params for t in kept]
    assert [t.intermediate_values for t in new] == [t.intermediate_values for t in kept]
    # Copies are not the sweep's own trials: they do not count towards num_samples.
    assert count_finished(study) == 0


def test_the_space_names_its_sampler():
    space = load_space(SPACE)
    assert isinstance(make_sampler(space), optuna.samplers.TPESampler)
    for name, kind in (("random", optuna.samplers.RandomSampler),
                       ("qmc", optuna.samplers.QMCSampler)):
        space.sampler = name
        assert isinstance(make_sampler(space), kind)
