"""Experiment tracking of sweeps in MLflow (docs/tracking.md): one parent run per sweep, one
nested child run per trial and confirmation run, every epoch a step, logged from the driver.

``sweep_runs`` syncs a sweep's records to its runs (idempotent, keyed by tags); ``session`` is
the driver's side (live syncs, phase ends, the end). ``python -m tuning.track`` sends a
sweep's whole record afterwards. The MLflow client itself: ``core.tracking``.
"""

from tuning.tracking._session import (
    LIVE_INTERVAL_S,
    TRACKING_FILE,
    SweepTracking,
    open_tracking,
    remember_target,
    tracking_problem,
    tracking_target,
)
from tuning.tracking._sweep_runs import SweepRuns, child_state, sweep_id

__all__ = ["LIVE_INTERVAL_S", "TRACKING_FILE", "SweepRuns", "SweepTracking", "child_state",
           "open_tracking", "remember_target", "sweep_id", "tracking_problem", "tracking_target"]
