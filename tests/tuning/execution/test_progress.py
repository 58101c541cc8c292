"""The progress line between rungs (tuning/execution/_progress.py)."""

import logging
from types import SimpleNamespace

import pytest

from tuning.execution import Progress, format_duration


def test_format_duration():
    assert [format_duration(s) for s in (9, 75, 4000)] == ["9s", "1m15s", "1h06m"]


def test_progress_counts_batched_epochs_once_and_estimates_the_rest(caplog):
    now = [0.0]
    p = Progress(total=4, done_before=1, interval_s=10, clock=lambda: now[0])
    a, b = SimpleNamespace(trial_id="a"), SimpleNamespace(trial_id="b")
    p.on_trial_start(0, [], a)
    p.on_trial_start(0, [], b)
    # A report at rung 2 carrying epoch 1 as a batched epoch: two epochs.
    p.on_trial_result(0, [], a, {"epoch": 2, "earlier_epochs": [{"epoch": 1}]})
    # A retried trial reports epoch 2 again from its checkpoint: not counted twice.
    p.on_trial_result(0, [], a, {"epoch": 2, "start_epoch": 1})
    p.on_trial_result(0, [], b, {"epoch": 1})
    assert p.epochs == 3
    assert "2 running, 3 epochs trained" in p.line()
    assert "an estimate follows the first finished trial" in p.line()
    now[0] = 60.0
    with caplog.at_level(logging.INFO, logger="tuning"):
        p.on_trial_complete(0, [], a)
    # 1 trial in 60 s, 2 to go: about 2 minutes left; logged (10 s passed since the start).
    assert "progress: 2 of 4 trials done, 1 running, 3 epochs trained; 1m00s so far, about " \
           "2m00s left" in caplog.text
    p.on_trial_error(0, [], b)
    assert "3 of 4 trials done (1 failed), 0 running" in p.line()


def test_the_estimate_counts_running_trials_by_their_epochs_and_leaves_start_up_out():
    now = [0.0]
    p = Progress(total=4, interval_s=1e9, clock=lambda: now[0], max_epochs=4)
    a, b = (SimpleNamespace(trial_id=k, last_result={}) for k in "ab")
    now[0] = 10.0  # Ray's start-up: not the trials' pace
    p.on_trial_start(0, [], a)
    p.on_trial_start(0, [], b)
    now[0] = 50.0
    p.on_trial_result(0, [], b, {"epoch": 2})
    p.on_trial_result(0, [], a, {"epoch": 4})
    p.on_trial_complete(0, [], a)
    # 1.5 trials' work in 40 s (a done, b half-way), 2.5 to go: 40 / 1.5 * 2.5 s.
    assert p.seconds_left() == pytest.approx(40 / 1.5 * 2.5)
    assert "about 1m07s left" in p.line()


def test_progress_shows_pruned_failed_and_the_best_by_the_sweeps_rule():
    p = Progress(total=4, interval_s=1e9, metric="val_accuracy", mode="max", max_epochs=4)
    a, b, c = (SimpleNamespace(trial_id=k, config={"trial_key": k}, last_result={})
               for k in ("t0000", "t0001", "t0002"))
    for t in (a, b, c):
        p.on_trial_start(0, [], t)
    p.on_trial_result(0, [], a, {"epoch": 2, "val_accuracy": 0.5, "val_loss": 0.9,
                                 "earlier_epochs": [{"epoch": 1, "val_accuracy": 0.6,
                                                     "val_loss": 1.0}]})
    # between trials a tie goes to the earlier trial (tuning.record.best_trial), whatever
    # the val_loss; within one, to the lower val_loss (core.selection), as for best.pt
    p.on_trial_result(0, [], b, {"epoch": 1, "val_accuracy": 0.6, "val_loss": 0.8,
                                 "earlier_epochs": []})
    assert "best t0000 val_accuracy 0.6000 (epoch 1)" in p.line()
    p.on_trial_result(0, [], b, {"epoch": 2, "val_accuracy": 0.7, "val_loss": 0.8})
    p.on_trial_result(0, [], b, {"epoch": 3, "val_accuracy": 0.7, "val_loss": 0.5})
    # a failure's NaN is never the best
    c.last_result = {"epoch": 1, "val_accuracy": float("nan"), "failure": "out of memory"}
    p.on_trial_result(0, [], c, c.last_result)
    assert "best t0001 val_accuracy 0.7000 (epoch 3)" in p.line()
    p.on_trial_complete(0, [], a)  # stopped by ASHA at epoch 2 of 4: pruned
    p.on_trial_complete(0, [], c)  # a terminal failure result
    assert "2 of 4 trials done (1 pruned, 1 failed), 1 running" in p.line()


@pytest.mark.slow
def test_the_console_shows_the_sweeps_own_lines_and_sweep_log_keeps_rays_tables(smoke):
    exp, proc = smoke
    console = proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Ray's trial tables, its "current best trial" and the workers' lines are in sweep.log only
    for ray_line in ("Trial status:", "Current best trial", "(train_trial pid="):
        assert ray_line not in console, ray_line
    assert "Trial status:" in (exp / "sweep.log").read_text()
    assert len(console.splitlines()) < 60, console
    # the last progress line (when Tune returns) names the sweep's best, by the same rule
    best = [line for line in console.splitlines() if "best trial t" in line][-1]
    last = [line for line in console.splitlines() if " progress: 8 of 8 trials done" in line]
    assert last and f"best {best.split('best trial ')[1].split(':')[0]} " in last[-1]
