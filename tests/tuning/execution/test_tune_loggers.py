"""Tune's TensorBoard logger as the sweep gives it: no earlier_epochs, and Tune adds no second."""

import logging

from ray.tune.logger import TBXLoggerCallback
from ray.tune.utils.callback import _create_default_callbacks

from tuning.execution import ReportedEpochsTBX
from tuning.record import EARLIER_EPOCHS


def test_the_batched_epochs_list_never_reaches_tensorboardx(monkeypatch):
    seen = []
    monkeypatch.setattr(TBXLoggerCallback, "log_trial_result",
                        lambda self, iteration, trial, result: seen.append(result))
    result = {"epoch": 3, "val_accuracy": 0.5, EARLIER_EPOCHS: [{"epoch": 1}, {"epoch": 2}]}
    ReportedEpochsTBX().log_trial_result(1, object(), result)
    assert seen == [{"epoch": 3, "val_accuracy": 0.5}]
    assert EARLIER_EPOCHS in result   # the caller's result (result.json's line) keeps it


def test_tune_adds_no_tensorboard_logger_of_its_own_beside_it(caplog):
    with caplog.at_level(logging.WARNING):
        callbacks = _create_default_callbacks([ReportedEpochsTBX()], air_verbosity=None)
    tbx = [c for c in callbacks if isinstance(c, TBXLoggerCallback)]
    assert len(tbx) == 1 and isinstance(tbx[0], ReportedEpochsTBX)
