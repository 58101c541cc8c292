"""Fault injection in a real sweep: dying workers, errors in every attempt, inf losses."""

import json

from optuna.trial import TrialState

from tests.tuning.conftest import SPACE, run_sweep
from tuning.study import load_study


def test_dying_and_failing_trials_are_retried_then_errored_and_nothing_hangs(tmp_path):
    faults = tmp_path / "faults"
    faults.mkdir()
    proc = run_sweep(["--space", str(SPACE), "--smoke", "--storage-path", str(tmp_path),
                      "--name", "f", "--max-failures", "1"],
                     env={"SEQTUNE_FAULTS": "kill_once:t0003:1,kill:t0004:1,raise:t0005:1,"
                                            "inf:t0006:1",
                          "SEQTUNE_FAULT_DIR": str(faults)})
    exp = tmp_path / "f"
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = load_study(exp).trials
    assert len(trials) == 8 and all(t.state.is_finished() for t in trials)
    # A worker SIGKILLed once is retried from its checkpoint and finishes normally.
    assert (faults / "t0003.kill_once").exists()
    results = [json.loads(line) for line in
               (exp / "tune" / "run-0" / "t0003" / "result.json").read_text().splitlines()]
    assert any(r.get("start_epoch", 0) >= 1 for r in results)
    assert trials[3].state in (TrialState.COMPLETE, TrialState.PRUNED)
    # Dying or raising in every attempt: errored once the retry is used up, the sweep goes on.
    assert trials[4].state == TrialState.FAIL and trials[4].user_attrs["failure"] == "error"
    assert trials[5].state == TrialState.FAIL and trials[5].user_attrs["failure"] == "error"
    # An inf loss ends the trial as FAIL; it is never the best.
    assert trials[6].state == TrialState.FAIL
    assert trials[6].user_attrs["failure"] == "non-finite loss"
    header = (exp / "best_config.yaml").read_text().splitlines()[1]
    assert not any(f"t000{i}" in header for i in (4, 5, 6))
