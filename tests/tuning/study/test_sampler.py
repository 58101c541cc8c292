"""Failure reasons and the failure-aware TPE sampler (tuning/study/_sampler.py)."""

import optuna
import pytest
from optuna.trial import TrialState

from tuning.study import FailureAwareTPESampler, error_reason, most_common_failure

RAY_TASK_ERROR = """Failure # 1 (occurred at 2026-11-30_04-40-00)
ray::ImplicitFunc.train() (pid=123, ip=127.0.0.1, actor_id=ab, repr=train_trial)
  File "/x/ray/tune/trainable/trainable.py", line 331, in train
    raise skipped from exception_cause(skipped)
  File "/x/tuning/trainable.py", line 99, in _inject
    raise RuntimeError(f"injected fault: {key} raises after epoch {epoch}")
RuntimeError: injected fault: t0004 raises after epoch 1
"""
ACTOR_DIED = """Failure # 1 (occurred at 2026-11-30_04-21-07)
The actor died unexpectedly before finishing this task.
\tclass_name: ImplicitFunc
\tpid: 11387
The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR Worker \
exit detail: Worker unexpectedly exits with a connection error code 2. End of file. Some common \
causes include: (1) the process was killed by the OOM killer due to high memory usage.
"""


@pytest.mark.parametrize("text,reason", [
    (RAY_TASK_ERROR, "RuntimeError: injected fault: t0004 raises after epoch 1"),
    (ACTOR_DIED, "The actor died unexpectedly before finishing this task. Worker unexpectedly "
                 "exits with a connection error code 2."),
    # Two attempts: the last one's reason.
    (RAY_TASK_ERROR.replace("t0004", "t0001") + RAY_TASK_ERROR.replace("# 1", "# 2"),
     "RuntimeError: injected fault: t0004 raises after epoch 1"),
    ("something odd\nand more\n", "something odd"),
    ("", "error (no reason recorded)"),
])
def test_error_reason_is_the_trials_own_exception(text, reason):
    assert error_reason(text) == reason


def _trial(state, failure=None):
    attrs = {"failure": failure} if failure else {}
    return optuna.trial.create_trial(state=state, user_attrs=attrs,
                                     value=1.0 if state == TrialState.COMPLETE else None)


def test_most_common_failure_counts_fail_trials_only():
    trials = [_trial(TrialState.FAIL, "a"), _trial(TrialState.FAIL, "b"),
              _trial(TrialState.FAIL, "b"), _trial(TrialState.COMPLETE),
              _trial(TrialState.FAIL)]
    assert most_common_failure(trials) == ("b", 2)
    assert most_common_failure([_trial(TrialState.COMPLETE)]) is None


def _picks_of_invalid(sampler, kind: str = "invalid config") -> int:
    """A space where model 'tcn' always fails (as ``kind``); how often the sampler proposes it
    in 30 trials after 10 random ones."""
    study = optuna.create_study(direction="maximize", sampler=sampler)
    picks = 0
    for i in range(40):
        trial = study.ask()
        name = trial.suggest_categorical("model", ["gru", "lstm", "tcn"])
        x = trial.suggest_float("x", 0.0, 1.0)
        if name == "tcn":
            picks += i >= 10
            trial.set_user_attr("failure", "model.bidirectional: must be false")
            trial.set_user_attr("failure_kind", kind)
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, x)
    return picks


@pytest.mark.parametrize("kind", ["invalid config", "out of memory"])
def test_tpe_learns_to_avoid_parameters_that_fail(kind):
    kwargs = dict(seed=0, n_startup_trials=10, multivariate=True, group=True,
                  constant_liar=True)
    plain = _picks_of_invalid(optuna.samplers.TPESampler(**kwargs), kind)
    aware = _picks_of_invalid(FailureAwareTPESampler(**kwargs), kind)
    # Optuna's TPE ignores FAIL trials and keeps proposing tcn; the failure-aware one sees them
    # as the worst results.
    assert plain >= 5, plain
    assert aware <= plain // 3, (aware, plain)
