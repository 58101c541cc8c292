"""Where a sweep's start-up goes: the seconds from the command to its first trained epoch.

The driver marks its own steps on a ``StartupClock`` (``tuning.driver``: its imports done, the
space, base config, data and pre-flight ready; ``run_trials``: Ray started, the Tuner started).
The first report of a trial carries its worker's times (``tuning.execution._trainable``, first
epoch only: ``worker_started_at``, ``worker_imported_at``, ``entered_at``, ``data_ready_at``,
``fit_entered_at``, ``first_step_at``, ``reported_at``; seconds since the epoch). When the first
such report reaches the driver, the clock logs one line, to the console and ``sweep.log``, in
seconds since the command started (the driver process's start where the system tells it)::

    start-up (s after the command): imports 4.2, pre-flight 5.0, Ray 9.8, Tuner 12.1; first
    trial: worker process 10.3, its imports 14.0, trainable 15.1, data 15.2, fit 15.3, first
    step 16.0, first epoch 16.4, report at the driver 16.9

"worker process" is when the worker that ran the first trial started: Ray starts idle workers
at ``ray.init`` and preloads their imports (``tuning.execution._workers``), so it may come before
the Tuner. Measurements: docs/performance.md, "Start-up of a sweep".
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["WORKER_MARKS", "StartupClock", "process_started_at"]

log = logging.getLogger("tuning")

# The first report's fields the driver reads, and their names in the line.
WORKER_MARKS = (("worker_started_at", "worker process"), ("worker_imported_at", "its imports"),
                ("entered_at", "trainable"), ("data_ready_at", "data"), ("fit_entered_at", "fit"),
                ("first_step_at", "first step"), ("reported_at", "first epoch"))


def process_started_at() -> float | None:
    """When this process started (seconds since the epoch; Linux), else None."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


class StartupClock:
    """The sweep's start-up marks, in seconds since ``origin`` (the command's start, seconds
    since the epoch). ``mark`` records a driver step; ``first_result`` reads a trial's result and,
    the first time one carries a worker's times, logs the line (the module's docstring)."""

    def __init__(self, origin: float):
        self.origin = origin
        self.driver: list[tuple[str, float]] = []  # (name, seconds since origin)
        self.worker: list[tuple[str, float]] = []
        self.logged = False

    def mark(self, name: str, at: float | None = None) -> None:
        """Records the driver step ``name`` as done now (or at ``at``, seconds since the
        epoch)."""
        self.driver.append((name, (time.time() if at is None else at) - self.origin))

    def first_result(self, result: dict[str, Any], received_at: float | None = None) -> None:
        """Reads the worker's marks from a trial's ``result`` (its own row or an earlier epoch's,
        ``tuning.record.EARLIER_EPOCHS``) and logs the line the first time they are there."""
        if self.logged:
            return
        from tuning.record import EARLIER_EPOCHS

        received_at = time.time() if received_at is None else received_at
        row = next((r for r in [*(result.get(EARLIER_EPOCHS) or []), result]
                    if isinstance(r, dict) and r.get("entered_at") is not None), None)
        if row is None:
            return  # a failure (an invalid config) before fit: the next trial's report
        self.worker = [(name, row[key] - self.origin) for key, name in WORKER_MARKS
                       if isinstance(row.get(key), int | float)]
        self.worker.append(("report at the driver", received_at - self.origin))
        self.log()

    def line(self) -> str:
        """The start-up line as far as it is known."""
        text = "start-up (s after the command): " + ", ".join(
            f"{name} {s:.1f}" for name, s in self.driver)
        if self.worker:
            text += "; first trial: " + ", ".join(f"{name} {s:.1f}" for name, s in self.worker)
        return text

    def log(self) -> None:
        """Logs the line once (``run_trials`` logs what it has when no trial reported)."""
        if not self.logged:
            self.logged = True
            log.info("%s", self.line())

    def tune_callback(self):
        """A Tune callback that hands every trial result to ``first_result`` (Ray Tune is
        imported here, after ``ray.init``)."""
        from ray.tune import Callback

        clock = self

        class FirstResult(Callback):
            def on_trial_result(self, iteration: int, trials: list, trial, result: dict,
                                **info) -> None:
                clock.first_result(result)

        return FirstResult()
