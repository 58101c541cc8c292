"""Fault injection in a real sweep: dying workers, errors in every attempt, inf losses."""

import csv
import json

import pytest
import yaml
from optuna.trial import TrialState

from core.train import SMOKE_OVERRIDES
from tests.tuning.conftest import ROOT, SPACE, run_sweep
from tuning.study import load_study

pytestmark = pytest.mark.slow  # end to end: real sweeps on Ray


def _smoke_without_rungs(tmp_path) -> list[str]:
    """The arguments of --smoke's sweep (8 trials of 4 epochs on its tiny data, a checkpoint
    every epoch, the same parameters searched) without ASHA's rung at epoch 2. A trial that fails
    in every attempt fails at its retry's first report, epoch 2: at a rung, ASHA's stop could
    come first (the trial then PRUNED, not FAIL), depending on which trials had reached the rung
    by then; a loaded machine lost that race."""
    raw = yaml.safe_load(SPACE.read_text())
    raw.pop("cpu", None)
    raw.update(base_config=str((SPACE.parent / raw["base_config"]).resolve()), num_samples=8,
               max_epochs=4, checkpoint_interval_s=0,
               scheduler={"grace_period": 4, "reduction_factor": 2},
               resources={"trials_per_gpu": 1, "cpus_per_trial": 1},
               sampler={**raw["sampler"], "n_startup_trials": 4})
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(raw))
    args = ["--space", str(space), "--storage-path", str(tmp_path)]
    for o in SMOKE_OVERRIDES:
        if o.split("=")[0] not in raw["params"]:  # the smoke's data and device, not its pins
            args += ["--set", o]
    return args


def test_dying_and_failing_trials_are_retried_then_errored_and_nothing_hangs(tmp_path):
    faults = tmp_path / "faults"
    faults.mkdir()
    proc = run_sweep([*_smoke_without_rungs(tmp_path), "--name", "f", "--max-failures", "1"],
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
    # failure holds the reason: the last attempt's exception, or why the worker died.
    assert trials[4].state == TrialState.FAIL
    assert trials[4].user_attrs["failure"].startswith(
        "The actor died unexpectedly"), trials[4].user_attrs
    assert trials[5].state == TrialState.FAIL
    assert trials[5].user_attrs["failure"].startswith(
        "RuntimeError: injected fault: t0005 raises after epoch"), trials[5].user_attrs
    # An inf loss ends the trial as FAIL; it is never the best.
    assert trials[6].state == TrialState.FAIL
    assert trials[6].user_attrs["failure_kind"] == "non-finite loss"
    assert "training loss became NaN or inf" in trials[6].user_attrs["failure"]
    rows = {r["trial"]: r for r in csv.DictReader((exp / "trials.csv").open())}
    assert rows["t0005"]["failure"] == trials[5].user_attrs["failure"]
    header = (exp / "best_config.yaml").read_text().splitlines()[1]
    assert not any(f"t000{i}" in header for i in (4, 5, 6))


INVALID_PAIRS = f"""base_config: {ROOT / "configs" / "gru.yaml"}
max_epochs: 4
params:
  model.name: {{type: categorical, choices: [gru, tcn]}}
  model.bidirectional: {{type: categorical, choices: [false, true]}}
"""


def test_trial_with_an_invalid_config_fails_at_once_with_the_reason_and_is_not_retried(tmp_path):
    space = tmp_path / "pairs.yaml"
    space.write_text(INVALID_PAIRS)
    proc = run_sweep(["--space", str(space), "--smoke", "--num-samples", "6", "--storage-path",
                      str(tmp_path), "--name", "p"])
    exp = tmp_path / "p"
    assert "ConfigError.__init__" not in proc.stderr
    trials = load_study(exp).trials
    invalid = [t for t in trials if t.params == {"model.name": "tcn",
                                                 "model.bidirectional": True}]
    assert invalid, [t.params for t in trials]  # the seeded sampler draws the pair
    rows = {r["trial"]: r for r in csv.DictReader((exp / "trials.csv").open())}
    for t in trials:
        key = f"t{t.number:04d}"
        if t in invalid:
            # FAIL with the config's key and reason, in the study, trials.csv and the console.
            assert t.state == TrialState.FAIL
            assert t.user_attrs["failure_kind"] == "invalid config"
            reason = t.user_attrs["failure"]
            assert "model.bidirectional" in reason and "causal" in reason, reason
            assert rows[key]["status"] == "errored" and rows[key]["failure"] == reason
            assert reason in proc.stderr
            # Never retried: one attempt, no error file (Tune saw a result, not an exception).
            trial_dir = exp / "tune" / "run-0" / key
            assert len((trial_dir / "result.json").read_text().splitlines()) == 1
            assert not (trial_dir / "error.txt").exists()
        else:
            assert t.state in (TrialState.COMPLETE, TrialState.PRUNED), t


def test_out_of_memory_fails_once_and_a_full_disk_stops_the_sweep_for_a_resume(tmp_path):
    faults = tmp_path / "faults"
    faults.mkdir()
    oom = {"SEQTUNE_FAULTS": "oom:t0000:1", "SEQTUNE_FAULT_DIR": str(faults)}
    proc = run_sweep(["--space", str(SPACE), "--smoke", "--storage-path", str(tmp_path),
                      "--name", "r", "--max-failures", "2"],
                     env={**oom, "SEQTUNE_FAULTS": "oom:t0000:1,nospace:t0003:1"})
    exp = tmp_path / "r"
    # The full disk stops the sweep at once (no retries), exit 4 with the resume command; the
    # trial stays RUNNING with the real cause, and trials.csv is written.
    assert proc.returncode == 4, proc.stderr[-3000:]
    assert "make room on the disk, then resume with:" in proc.stderr
    assert f"--resume {exp}" in proc.stderr
    stopped = load_study(exp).trials[3]
    assert stopped.state == TrialState.RUNNING
    assert "No space left on device" in stopped.user_attrs["stopped"]
    assert not list((exp / "tune").glob("run-0/t0003/error*.txt"))
    assert (exp / "trials.csv").is_file()
    # Room made: the resume continues it and finishes the sweep.
    proc = run_sweep(["--resume", str(exp)], env=oom)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "t0003 had stopped: trial t0003: OSError: [Errno 28] No space left" in proc.stderr
    trials = load_study(exp).trials
    assert len(trials) == 8 and all(t.state.is_finished() for t in trials)
    assert trials[3].state in (TrialState.COMPLETE, TrialState.PRUNED)
    # Out of memory: FAIL in its first attempt, never retried, the reason in failure (which
    # the failure-aware TPE reads as a parameter failure: tests/tuning/study/test_sampler.py).
    assert trials[0].state == TrialState.FAIL
    assert trials[0].user_attrs["failure_kind"] == "out of memory"
    assert trials[0].user_attrs["failure"].startswith(
        "trial t0000: OutOfMemoryError: injected fault: t0000 is out of memory")
    assert not list((exp / "tune").glob("run-*/t0000/error*.txt"))
    rows = {r["trial"]: r for r in csv.DictReader((exp / "trials.csv").open())}
    assert rows["t0000"]["failure"] == trials[0].user_attrs["failure"]
