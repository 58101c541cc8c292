"""tuning.execution.StudySearcher, driven directly as Tune drives it (no Ray started): what each
way a trial ends leaves in the study (end to end: test_sweep.py, test_faults.py)."""

import math

import optuna
import pytest
from optuna.trial import TrialState

from tuning.execution import Continuing, StudySearcher


def _define(trial):
    return {"optim.lr": trial.suggest_float("optim.lr", 1e-4, 1e-1, log=True)}


def _searcher(mode="max", **kw):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    return StudySearcher(study, _define, metric="val_accuracy", mode=mode, max_epochs=3, **kw)


@pytest.mark.parametrize("mode,best", [("max", 0.7), ("min", 0.4)])
def test_a_trial_that_trains_to_max_epochs_is_complete_with_its_best_epoch(mode, best):
    s = _searcher(mode)
    config = s.suggest("tune-1")
    assert config["trial_key"] == "t0000" and "optim.lr" in config["params"]
    s.on_trial_result("tune-1", {"epoch": 1, "val_accuracy": 0.4, "gpu_id": 0,
                                 "gpu_name": "H100", "node_id": "abcdef0123456789"})
    s.on_trial_result("tune-1", {"epoch": 2, "val_accuracy": 0.7})
    s.on_trial_complete("tune-1", {"epoch": 3, "val_accuracy": 0.6})
    (t,) = s.study.trials
    assert t.state == TrialState.COMPLETE and t.value == best
    assert t.intermediate_values == {1: 0.4, 2: 0.7, 3: 0.6}
    assert t.user_attrs["gpu"] == "0 H100" and t.user_attrs["node"] == "abcdef012345"


def test_batched_epochs_are_expanded_and_an_epoch_is_recorded_once():
    s = _searcher()
    s.suggest("tune-1")
    s.on_trial_result("tune-1", {"epoch": 3, "val_accuracy": 0.5, "earlier_epochs": [
        {"epoch": 1, "val_accuracy": 0.2}, {"epoch": 2, "val_accuracy": 0.3}]})
    s.on_trial_complete("tune-1", {"epoch": 3, "val_accuracy": 0.9})  # the same epoch again
    (t,) = s.study.trials
    assert t.intermediate_values == {1: 0.2, 2: 0.3, 3: 0.5} and t.value == 0.5


def test_a_trial_stopped_early_is_pruned_not_complete():
    s = _searcher()
    s.suggest("tune-1")
    s.on_trial_complete("tune-1", {"epoch": 1, "val_accuracy": 0.9})
    assert s.study.trials[0].state == TrialState.PRUNED


def test_failures_are_fail_with_their_reason_and_kind():
    s = _searcher(error_reason=lambda trial_id: f"RuntimeError: boom in {trial_id}")
    for i in range(4):
        s.suggest(f"tune-{i}")
    s.on_trial_complete("tune-0", error=True)
    s.on_trial_complete("tune-1", {"epoch": 1, "val_accuracy": math.nan,
                                   "failure": "training loss became NaN or inf",
                                   "failure_kind": "non-finite loss"})
    s.on_trial_complete("tune-2", {})  # ended without reporting an epoch
    s.on_trial_result("tune-3", {"epoch": 1, "val_accuracy": float("inf")})  # not recorded
    s.on_trial_complete("tune-3", error=True)
    t0, t1, t2, t3 = s.study.trials
    assert all(t.state == TrialState.FAIL for t in (t0, t1, t2, t3))
    assert (t0.user_attrs["failure"], t0.user_attrs["failure_kind"]) == (
        "RuntimeError: boom in tune-0", "error")
    assert t1.user_attrs["failure_kind"] == "non-finite loss" and t1.intermediate_values == {}
    assert t2.user_attrs["failure"] == "ended without reporting an epoch"
    assert t3.intermediate_values == {}


def test_confirmation_runs_keep_their_finite_test_metrics():
    s = _searcher(fixed={"evaluate_test": True}, key_of=lambda n: f"c{n:04d}")
    config = s.suggest("tune-1")
    assert config["evaluate_test"] is True and config["trial_key"] == "c0000"
    s.on_trial_complete("tune-1", {"epoch": 3, "val_accuracy": 0.8, "test_accuracy": 0.75,
                                   "test_loss": math.nan})
    assert s.study.trials[0].user_attrs["test_metrics"] == {"test_accuracy": 0.75}


def test_continuing_trials_come_first_under_their_own_number_and_resume():
    s = _searcher()
    earlier = s.study.ask()
    earlier.report(0.3, 1)
    s.continuing = [Continuing(earlier.number, {"optim.lr": 0.01}, "/ckpt/t0000.pt")]
    again = s.suggest("tune-9")
    assert (again["trial_key"], again["params"], again["resume_from"]) == (
        "t0000", {"optim.lr": 0.01}, "/ckpt/t0000.pt")
    assert s.suggest("tune-10")["trial_key"] == "t0001"  # then new trials
    s.on_trial_result("tune-9", {"epoch": 1, "val_accuracy": 0.9})  # epoch 1 already recorded
    s.on_trial_complete("tune-9", {"epoch": 3, "val_accuracy": 0.5})
    t = s.study.trials[0]
    assert t.intermediate_values == {1: 0.3, 3: 0.5} and t.state == TrialState.COMPLETE


def test_close_unfinished_prunes_trials_with_epochs_and_fails_the_others():
    changes = []
    s = _searcher(on_change=lambda: changes.append(1))
    s.suggest("tune-1")
    s.suggest("tune-2")
    s.on_trial_result("tune-1", {"epoch": 1, "val_accuracy": 0.5})
    assert s.close_unfinished("time budget") == 2
    t1, t2 = s.study.trials
    assert t1.state == TrialState.PRUNED and t1.user_attrs["stopped"] == "time budget"
    assert t2.state == TrialState.FAIL and t2.user_attrs["failure"] == "never trained (time budget)"
    assert changes == [1] and s.close_unfinished("again") == 0
    s.on_trial_complete("tune-1", {"epoch": 3, "val_accuracy": 0.9})  # already closed: ignored
    assert s.study.trials[0].state == TrialState.PRUNED
