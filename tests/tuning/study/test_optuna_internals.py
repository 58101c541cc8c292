"""tuning.study._optuna_internals against the installed Optuna: a release that changes a private
name the project relies on fails here, naming it, instead of somewhere inside a sweep."""

import optuna
import pytest

import tuning.study._optuna_internals as oi

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(params=["memory", "sqlite"])
def study(request, tmp_path):
    storage = None if request.param == "memory" else f"sqlite:///{tmp_path / 's.db'}"
    return optuna.create_study(storage=storage, study_name="s")


def test_private_names_exist(study):
    # Each is read by tuning.study._optuna_internals; a rename in Optuna must show up here first.
    for owner, name in ((study, "_storage"), (study, "_study_id")):
        assert hasattr(owner, name), f"optuna.Study.{name} is gone (optuna {optuna.__version__})"
    assert isinstance(oi.FrozenStudy, type)


def test_trial_by_number_reports_into_the_running_trial(study):
    study.ask()
    second = study.ask()
    handle = oi.trial_by_number(study, second.number)
    handle.report(0.5, 1)
    assert study.trials[1].intermediate_values == {1: 0.5}
    study.tell(second.number, 0.5)
    assert study.trials[1].state == optuna.trial.TrialState.COMPLETE


def test_fixed_params_make_suggestions_return_them(study):
    trial = study.ask()
    oi.fix_params(study, trial.number, {"x": 0.25, "n": 3})
    handle = oi.trial_by_number(study, trial.number)
    # Optuna's fixed_params: suggest_* returns the given values (and records them).
    assert handle.suggest_float("x", 0.0, 1.0) == 0.25
    assert handle.suggest_int("n", 1, 5) == 3
    assert study.trials[0].params == {"x": 0.25, "n": 3}


def test_storage_ids_of_frozen_studies_and_trials(study):
    study.ask()
    storage = study._storage
    frozen = [s for s in storage.get_all_studies() if s.study_name == "s"][0]
    sid = oi.storage_study_id(frozen)
    assert storage.get_study_name_from_id(sid) == "s"
    trial = storage.get_all_trials(sid)[0]
    assert storage.get_trial_number_from_id(oi.storage_trial_id(trial)) == 0


def test_storage_of_opens_a_second_study_beside_the_first(study):
    # A study created on storage_of(study) shares the database: both names are listed.
    other = optuna.create_study(storage=oi.storage_of(study), study_name="other")
    assert set(optuna.get_all_study_names(oi.storage_of(other))) == {study.study_name, "other"}
