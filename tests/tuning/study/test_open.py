"""tuning.study: opening and loading the sweep's study, its sampler, warm start."""

import copy

import optuna
import pytest
from optuna.trial import TrialState

from tests.tuning.conftest import SPACE
from tuning.record import read_spec, space_of
from tuning.space import compile_space, load_space, parse_space
from tuning.study import (
    count_finished,
    load_study,
    make_sampler,
    open_study,
    warm_start,
    warm_start_trials,
)

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


@pytest.mark.slow
def test_warm_start_copies_finished_trials(smoke, tmp_path):
    exp, _ = smoke
    space = space_of(read_spec(exp), "sweep.yaml")
    study, _ = open_study(tmp_path, "new", space)
    trials, skipped = warm_start_trials(exp, space)
    added = warm_start(study, trials)
    old = load_study(exp).get_trials()
    kept = [t for t in old if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert added == len(kept) > 0 and skipped == {}
    new = study.get_trials()
    assert [t.params for t in new] == [t.params for t in kept]
    assert [t.intermediate_values for t in new] == [t.intermediate_values for t in kept]
    # Copies are not the sweep's own trials: they do not count towards num_samples.
    assert count_finished(study) == 0
    # trials.csv says where they came from (the user check: they looked like this sweep's own).
    from tuning.record import trial_rows

    rows = trial_rows(study, tmp_path / "new", space)
    assert {r["phase"] for r in rows} == {"warm start"}
    assert {r["warm_start_from"] for r in rows} == {str(exp)}
    assert {r["checkpoint"] for r in rows} == {""}


@pytest.mark.slow
def test_warm_start_skips_trials_the_new_space_cannot_draw(smoke, tmp_path):
    # Issue 16 §2: hidden_size choices [32, 64, 128, 256] earlier, [16, 32, 64] now. Optuna
    # refused the old trials ("CategoricalDistribution does not support dynamic value space").
    exp, _ = smoke
    spec = read_spec(exp)
    spec["space"]["params"]["model.hidden_size"] = {"type": "categorical",
                                                    "choices": [16, 32, 64]}
    space = space_of(spec, "sweep.yaml")
    study, storage = open_study(tmp_path, "new", space)
    trials, skipped = warm_start_trials(exp, space)
    old = [t for t in load_study(exp).get_trials()
           if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    wide = [t for t in old if t.params["model.hidden_size"] > 64]
    assert wide and sum(skipped.values()) == len(wide)
    assert all("model.hidden_size=" in r and "[16, 32, 64]" in r for r in skipped)
    assert warm_start(study, trials) == len(old) - len(wide)
    # The copies use the new space's distributions, so the sampler can go on from them.
    assert all(t.distributions["model.hidden_size"].choices == (16, 32, 64)
               for t in study.get_trials())
    study.ask().suggest_categorical("model.hidden_size", [16, 32, 64])
    storage.close()


def test_warm_start_checks_the_values_the_earlier_space_fixed(tmp_path):
    """The user check: an earlier sweep pinned training.batch_size at 48 (--set); a space that
    draws it from [64, 128, 256, 512] imported all of its trials, the batch size left empty."""
    spec = copy.deepcopy(load_space(SPACE).raw)
    spec["params"]["training.batch_size"] = {"type": "fixed", "value": 48}
    earlier = parse_space(spec, "earlier.yaml", SPACE.parent)
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    old, storage = open_study(old_dir, "old", earlier)
    for lr in (0.001, 0.01):
        trial = old.ask()
        trial.set_user_attr("params", {**compile_space(earlier.params)(trial), "optim.lr": lr})
        trial.report(0.5, 1)
        old.tell(trial, 0.5)
    storage.close()
    searched = load_space(SPACE)  # draws the batch size
    trials, skipped = warm_start_trials(old_dir, searched)
    assert trials == [] and skipped == {
        "training.batch_size=48 is not among the choices [64, 128, 256, 512]": 2}
    # A space that fixes it at another value skips them too; at the same value, imports them.
    spec["params"]["training.batch_size"] = {"type": "fixed", "value": 64}
    trials, skipped = warm_start_trials(old_dir, parse_space(spec, "x.yaml", SPACE.parent))
    assert trials == [] and skipped == {"training.batch_size=48, where this space fixes 64": 2}
    trials, skipped = warm_start_trials(old_dir, earlier)
    assert len(trials) == 2 and skipped == {}


def test_the_space_names_its_sampler():
    space = load_space(SPACE)
    assert isinstance(make_sampler(space), optuna.samplers.TPESampler)
    for name, kind in (("random", optuna.samplers.RandomSampler),
                       ("qmc", optuna.samplers.QMCSampler)):
        space.settings.sampler.name = name
        assert isinstance(make_sampler(space), kind)
