"""The progress line between rungs (tuning/progress.py)."""

import logging
from types import SimpleNamespace

from tuning.progress import Progress, format_duration


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
