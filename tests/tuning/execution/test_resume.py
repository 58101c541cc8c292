"""tuning.execution._resume: reconciling a study with the disk after a crash, without Ray."""

import json

import optuna
import pytest
from optuna.trial import TrialState

from tests.tuning.conftest import SPACE
from tuning.execution import reconcile, spec_changes
from tuning.space import load_space
from tuning.study import open_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_trial_killed_while_drawing_parameters_is_completed_not_redrawn(tmp_path, caplog):
    space = load_space(SPACE)
    study, _ = open_study(tmp_path, "x", space)
    trial = study.ask()
    lr = trial.suggest_float("optim.lr", 1e-4, 3e-2, log=True)  # the kill came after one draw
    with caplog.at_level("INFO", logger="tuning"):
        continuing = reconcile(study, tmp_path, space)
    # It never started (no params.json): nothing to say; "continues from the start" before.
    assert not [m for m in caplog.messages if m.startswith("t0000:")]
    assert [c.number for c in continuing] == [trial.number]
    params = continuing[0].params
    # The value already drawn is kept; the missing ones are drawn now; no checkpoint to use.
    assert params["optim.lr"] == lr and {"model.num_layers", "training.batch_size"} <= set(params)
    assert continuing[0].checkpoint is None
    assert study.trials[0].user_attrs["params"] == params


def test_started_trial_whose_parameters_never_reached_the_file_keeps_them(tmp_path, caplog):
    # The driver was killed after the trial was created and Tune started it, but before the
    # study's writer thread wrote its parameters: Tune's params.json has them.
    space = load_space(SPACE)
    study, _ = open_study(tmp_path, "x", space)
    trial = study.ask()
    started = {"optim.lr": 0.0123, "model.num_layers": 2, "model.dropout": 0.25,
               "training.batch_size": 256, "schedule.name": "onecycle"}
    trial_dir = tmp_path / "tune" / "run-0" / "t0000"
    trial_dir.mkdir(parents=True)
    (trial_dir / "params.json").write_text(json.dumps({"params": started, "trial_key": "t0000"}))
    with caplog.at_level("INFO", logger="tuning"):
        continuing = reconcile(study, tmp_path, space)
    # Started, but killed before its first checkpoint: it runs again from the start, and says so.
    assert "t0000: starts again from the first epoch (no checkpoint was saved)" in caplog.messages
    assert [c.number for c in continuing] == [trial.number]
    assert {k: continuing[0].params[k] for k in started} == started
    assert {k: study.trials[0].params[k] for k in started} == started


def test_trial_whose_checkpoints_are_all_damaged_is_fail(tmp_path):
    space = load_space(SPACE)
    study, _ = open_study(tmp_path, "x", space)
    trial = study.ask()
    trial.set_user_attr("params", {})
    ckpt = tmp_path / "tune" / "run-0" / "t0000" / "checkpoint_000000" / "checkpoint.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"not a checkpoint")
    assert reconcile(study, tmp_path, space) == []
    t = study.trials[0]
    assert t.state == TrialState.FAIL and t.user_attrs["failure"] == "checkpoints damaged"


def test_spec_changes_name_the_changed_keys_and_the_base_config():
    old = {"space": {"num_samples": 8, "metric": "val_accuracy"}, "base": {"optim": {"lr": 1}}}
    assert spec_changes(old, old) == []
    new = {"space": {"num_samples": 9, "mode": "max", "metric": "val_accuracy"},
           "base": {"optim": {"lr": 2}}}
    # Added, removed and changed keys count alike; the base config comes last.
    assert spec_changes(old, new) == ["mode", "num_samples", "base config"]


def test_epochs_and_test_metrics_a_killed_driver_lost_are_recovered_from_the_checkpoint(tmp_path):
    """Issue 17: a confirmation run finished on disk (its last checkpoint saved, with its test
    metrics beside it) while the killed driver lost result.json's last lines and never closed it
    in the study. The resume recovers the lost epochs and the test metric; nothing is null."""
    from core.checkpoint import save_checkpoint
    from tuning.confirm import confirm_key
    from tuning.record import trial_history

    space = load_space(SPACE)
    study, _ = open_study(tmp_path, "x", space)
    trial = study.ask()
    trial.set_user_attr("params", {})
    last = space.max_epochs
    history = [{"epoch": e, "val_accuracy": 0.5 + e / 100, "val_loss": 1.0 - e / 100}
               for e in range(1, last + 1)]
    for h in history[:-3]:  # the study has what the searcher had recorded before the kill
        trial.report(h["val_accuracy"], h["epoch"])
    run = tmp_path / "tune" / "run-0" / "c0000"
    ckpt = run / "checkpoint_000001" / "checkpoint.pt"
    ckpt.parent.mkdir(parents=True)
    save_checkpoint({"epoch": last, "history": history}, ckpt)
    (ckpt.parent / "test_metrics.json").write_text(json.dumps({"test_accuracy": 0.875}))
    # result.json holds the epochs up to 3 before the end; the rest died with the driver.
    (run / "result.json").write_text("".join(json.dumps(h) + "\n" for h in history[:-3]))

    assert reconcile(study, tmp_path, space, key_of=confirm_key) == []
    t = study.trials[0]
    assert t.state == TrialState.COMPLETE and t.user_attrs["test_metrics"] == \
        {"test_accuracy": 0.875}
    rows = trial_history(tmp_path, "c0000")
    assert [r["epoch"] for r in rows] == list(range(1, last + 1))
    assert rows[-1]["test_accuracy"] == 0.875 and rows[-1]["val_accuracy"] == \
        history[-1]["val_accuracy"]


def test_finished_run_whose_result_json_lost_lines_is_recovered_with_its_checkpoint(tmp_path):
    """Issue 17 (user check): a confirmation run already COMPLETE in the study, whose
    result.json lost its last epoch with the driver, is recovered too (not only RUNNING
    trials), and trials.csv's checkpoint is its last epoch's checkpoint, not an older one."""
    from core.checkpoint import save_checkpoint
    from tuning.confirm import confirm_key
    from tuning.record import trial_history, trial_rows

    space = load_space(SPACE)
    study, _ = open_study(tmp_path, "x", space)
    trial = study.ask()
    trial.set_user_attr("params", {})
    trial.set_user_attr("search_trial", "t0000")
    last = space.max_epochs
    history = [{"epoch": e, "val_accuracy": 0.5 + e / 100, "val_loss": 1.0 - e / 100}
               for e in range(1, last + 1)]
    for h in history:
        trial.report(h["val_accuracy"], h["epoch"])
    trial.set_user_attr("test_metrics", {"test_accuracy": 0.875})
    study.tell(trial, history[-1]["val_accuracy"])
    run = tmp_path / "tune" / "run-0" / "c0000"
    for folder, state in (("checkpoint_000000", history[:1]), ("checkpoint_000001", history)):
        ckpt = run / folder / "checkpoint.pt"
        ckpt.parent.mkdir(parents=True)
        save_checkpoint({"epoch": state[-1]["epoch"], "history": state}, ckpt)
    (run / "checkpoint_000001" / "test_metrics.json").write_text(
        json.dumps({"test_accuracy": 0.875}))
    lines = [{**history[0], "checkpoint_dir_name": "checkpoint_000000"}] + history[1:-1]
    (run / "result.json").write_text("".join(json.dumps(h) + "\n" for h in lines))
    before = trial_rows(study, tmp_path, space, phase="confirm", key_of=confirm_key)[0]
    assert before["checkpoint_epoch"] == 1  # what the user check found

    assert reconcile(study, tmp_path, space, key_of=confirm_key) == []
    rows = trial_history(tmp_path, "c0000")
    assert [r["epoch"] for r in rows] == list(range(1, last + 1))
    assert rows[-1]["test_accuracy"] == 0.875
    row = trial_rows(study, tmp_path, space, phase="confirm", key_of=confirm_key)[0]
    assert row["checkpoint_epoch"] == last
    assert row["checkpoint"] == str(run / "checkpoint_000001" / "checkpoint.pt")
    # A second resume finds nothing lost and leaves the recovered file as it is.
    recovered = tmp_path / "recovered" / "c0000.jsonl"
    text = recovered.read_text()
    reconcile(study, tmp_path, space, key_of=confirm_key)
    assert recovered.read_text() == text


@pytest.mark.slow
def test_a_sweep_copied_to_another_folder_keeps_its_identity(smoke, tmp_path):
    import shutil

    from tests.tuning.conftest import run_sweep
    from tuning.export import main as export_main
    from tuning.study import load_study

    exp, _ = smoke
    copy = tmp_path / "b"
    shutil.copytree(exp, copy)
    before = load_study(copy)
    proc = run_sweep(["--resume", str(copy)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the same study (named when the sweep started, not after the folder), nothing run again
    assert f"sweep {before.study_name}: 8 of 8 trials finished, 0 to continue, 0 to run" \
        in proc.stderr
    names = optuna.get_all_study_names(f"sqlite:///{copy / 'study.db'}")
    assert names == [before.study_name]
    assert not (copy / "tune" / "run-1").exists()
    assert [t.state for t in load_study(copy).trials] == [t.state for t in before.trials]
    assert export_main([str(copy), "--out", str(tmp_path / "best.yaml")]) == 0
