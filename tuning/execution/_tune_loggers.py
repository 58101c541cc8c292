"""Ray Tune's logger callbacks as the sweep configures them.

Tune adds its CSV, JSON and TensorBoard loggers to every run unless a callback of each kind is
given. The JSON logger's ``result.json`` is what ``tuning.record._results`` reads, so it stays as
Tune makes it; the TensorBoard logger is given here without the ``earlier_epochs`` list of batched
reports, which is not a scalar: Tune would warn about it once per sweep and drop it anyway.
Every epoch of every trial is in the sweep's own ``tensorboard/`` files
(``tuning.record._tensorboard``).
"""

from __future__ import annotations

from ray.tune.logger import TBXLoggerCallback

from tuning.record import reported_epoch

__all__ = ["ReportedEpochsTBX"]


class ReportedEpochsTBX(TBXLoggerCallback):
    """Tune's ``TBXLoggerCallback`` for the reported epochs only: a result's
    ``earlier_epochs`` (the epochs batched into it, see ``tuning.execution._trainable``) is left out
    (``tuning.record.reported_epoch``)."""

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        super().log_trial_result(iteration, trial, reported_epoch(result))
