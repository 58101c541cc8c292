"""Reconciling a study with the disk after a crash, without Ray."""

import json

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


def test_started_trial_whose_parameters_never_reached_the_file_keeps_them(tmp_path):
    # The driver was killed after the trial was created and Tune started it, but before the
    # study's writer thread wrote its parameters: Tune's params.json has them.
    space = load_space(SPACE)
    study, _ = sweep._open_study(tmp_path, "x", space)
    trial = study.ask()
    started = {"optim.lr": 0.0123, "model.num_layers": 2, "model.dropout": 0.25,
               "training.batch_size": 256, "schedule.name": "onecycle"}
    trial_dir = tmp_path / "tune" / "run-0" / "t0000"
    trial_dir.mkdir(parents=True)
    (trial_dir / "params.json").write_text(json.dumps({"params": started, "trial_key": "t0000"}))
    continuing = sweep.reconcile(study, tmp_path, space)
    assert [c.number for c in continuing] == [trial.number]
    assert {k: continuing[0].params[k] for k in started} == started
    assert {k: study.trials[0].params[k] for k in started} == started


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


def test_trials_csv_names_the_best_epochs_checkpoint_else_the_newest(tmp_path):
    import json

    space = load_space(SPACE)
    study, _ = sweep._open_study(tmp_path, "x", space)
    scores = {1: 0.5, 2: 0.6, 3: 0.9, 4: 0.7}  # best at epoch 3
    for number, saved in enumerate(([2, 4], [2, 3, 4])):
        trial = study.ask()
        trial.set_user_attr("params", {})
        d = tmp_path / "tune" / "run-0" / f"t{number:04d}"
        rows = []
        for epoch, score in scores.items():
            trial.report(score, epoch)
            name = f"checkpoint_{epoch:06d}" if epoch in saved else None
            if name:
                (d / name).mkdir(parents=True)
                (d / name / "checkpoint.pt").write_bytes(b"x")
            rows.append({"epoch": epoch, "val_accuracy": score, "checkpoint_dir_name": name})
        (d / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
        study.tell(trial, 0.9)
    csv_rows = sweep.trial_rows(study, tmp_path, space)
    # Epoch 3 was not saved in t0000: its newest checkpoint (epoch 4) is named, with its epoch.
    assert (csv_rows[0]["best_epoch"], csv_rows[0]["checkpoint_epoch"]) == (3, 4)
    assert csv_rows[0]["checkpoint"].endswith("t0000/checkpoint_000004/checkpoint.pt")
    # t0001 saved epoch 3: the best epoch's own checkpoint.
    assert csv_rows[1]["checkpoint_epoch"] == 3
    assert csv_rows[1]["checkpoint"].endswith("t0001/checkpoint_000003/checkpoint.pt")
