"""The sweep's start-up line (tuning.execution._startup): the driver's marks and the first
trial's, from the first report that carries them (end to end: test_sweep.py)."""

import logging

from tuning.execution import StartupClock
from tuning.record import EARLIER_EPOCHS


def _worker_row(origin: float, epoch: int = 1) -> dict:
    return {"epoch": epoch, "worker_started_at": origin + 3.0, "worker_imported_at": origin + 5.0,
            "entered_at": origin + 6.0, "data_ready_at": origin + 6.5,
            "fit_entered_at": origin + 6.6, "first_step_at": origin + 7.25,
            "reported_at": origin + 8.0}


def test_the_line_has_the_driver_marks_and_the_first_trials_from_a_batched_report(caplog):
    clock = StartupClock(origin=1000.0)
    clock.mark("imports", at=1002.0)
    clock.mark("Ray", at=1004.5)
    with caplog.at_level(logging.INFO, logger="tuning"):
        # a trial that failed before fit carries no times: the line waits for one that does
        clock.first_result({"epoch": 1, "failure": "invalid config"}, received_at=1005.0)
        assert not clock.logged and not caplog.records
        # epoch 1 batched into the report of epoch 2 (tuning.record.EARLIER_EPOCHS)
        clock.first_result({"epoch": 2, EARLIER_EPOCHS: [_worker_row(1000.0)]},
                           received_at=1009.0)
        clock.first_result({"epoch": 1, **_worker_row(1000.0)}, received_at=1020.0)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["start-up (s after the command): imports 2.0, Ray 4.5; first trial: "
                     "worker process 3.0, its imports 5.0, trainable 6.0, data 6.5, fit 6.6, "
                     "first step 7.2, first epoch 8.0, report at the driver 9.0"]


def test_without_a_report_the_driver_marks_are_logged_once(caplog):
    clock = StartupClock(origin=0.0)
    clock.mark("imports", at=1.25)
    with caplog.at_level(logging.INFO, logger="tuning"):
        clock.log()
        clock.log()
    assert [r.getMessage() for r in caplog.records] == [
        "start-up (s after the command): imports 1.2"]
