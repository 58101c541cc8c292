"""Reconciling a study with the disk after a crash, without Ray."""

import optuna
from optuna.trial import TrialState

from tests.tuning.conftest import SPACE
from tuning import sweep
from tuning.space import load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_trial_killed_while_drawing_parameters_is_completed_not_redrawn(tmp_path):
    space = load_space(SPACE)
    study, _ = sweep._open_study(tmp_path, "x", space)
    trial = study.ask()
    lr = trial.suggest_float("optim.lr", 1e-4, 3e-2, log=True)  # the kill came after one draw
    continuing = sweep.reconcile(study, tmp_path, space)
    assert [c.number for c in continuing] == [trial.number]
    params = continuing[0].params
    # The value already drawn is kept; the missing ones are drawn now; no checkpoint to use.
    assert params["optim.lr"] == lr and {"model.num_layers", "training.batch_size"} <= set(params)
    assert continuing[0].checkpoint is None
    assert study.trials[0].user_attrs["params"] == params


def test_trial_whose_checkpoints_are_all_damaged_is_fail(tmp_path):
    space = load_space(SPACE)
    study, _ = sweep._open_study(tmp_path, "x", space)
    trial = study.ask()
    trial.set_user_attr("params", {})
    ckpt = tmp_path / "tune" / "run-0" / "t0000" / "checkpoint_000000" / "checkpoint.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"not a checkpoint")
    assert sweep.reconcile(study, tmp_path, space) == []
    t = study.trials[0]
    assert t.state == TrialState.FAIL and t.user_attrs["failure"] == "checkpoints damaged"


def test_readers_never_create_the_study_database(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="no study.db"):
        sweep.load_study(tmp_path)
    assert list(tmp_path.iterdir()) == []
    # The driver creates it whole, by renaming a finished file into place.
    _, storage = sweep._open_study(tmp_path, "x", load_space(SPACE))
    assert {p.name for p in tmp_path.iterdir()} <= {"study.db", "study.db-wal", "study.db-shm"}
    storage.close()  # SQLite folds its write-ahead log back in: one file again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]
    assert sweep.load_study(tmp_path).study_name == "x"
