"""What a training run shows on the console: every epoch of a short run, a bounded selection of a
long one's, each with the best epoch so far and the time left.

A paper recipe trains 1,500-2,000 epochs (configs/fcn.yaml, resnet.yaml, inception_time.yaml), and
one line per epoch flooded a terminal or a notebook cell. ``train.log`` keeps every epoch line and
``metrics.csv`` every epoch's metrics; the console (``EpochConsole``, the stream handler that
``core.cli.setup_logging(..., thin_epochs=True)`` installs for ``core.train`` and
``core.run_training``) shows

- every epoch line while this process trains at most ``SHOW_ALL`` epochs;
- otherwise the first epoch, one every ``ceil(epochs / EPOCH_LINES)`` epochs and the last (about
  ``EPOCH_LINES`` lines in all), and a new best epoch unless a new best was shown less than
  ``1/EPOCH_LINES`` of the run's projected time ago (or ``BEST_EVERY_S`` seconds): at most about
  ``2 * EPOCH_LINES`` epoch lines, however long the run;
- an epoch line held back is shown before the next other line (early stopping, an error, the
  test metrics) or when the run ends, so the last epoch trained is always on the screen.

Each epoch line on the console ends with the best epoch so far (``new best`` when it is this one)
and the time left at this process's mean epoch time so far (with early stopping, at most that)::

    12:00:01 epoch 400/2000  train_loss 0.3124  val_loss 0.4012  val_accuracy 0.8811  lr 0.001
    0.4s  8123 samples/s | best val_accuracy 0.8840 (epoch 371), about 10m40s left

The loop marks its epoch lines with ``epoch_extra(...)`` (``logging``'s ``extra``); a handler
other than ``EpochConsole`` (the log file) formats them as any other line.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["BEST_EVERY_S", "EPOCH_LINES", "SHOW_ALL", "EpochConsole", "EpochLine", "epoch_extra",
           "format_duration"]

SHOW_ALL = 30  # a run of at most this many epochs shows every epoch
EPOCH_LINES = 20  # a longer run shows about this many evenly spaced epochs
BEST_EVERY_S = 10.0  # least seconds between two lines shown for a new best alone

_KEY = "epoch_line"  # the LogRecord attribute epoch_extra sets


def format_duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``4000`` -> ``1h06m``; ``9`` -> ``9s``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


@dataclass(frozen=True)
class EpochLine:
    """What the console needs to know of an epoch line."""

    epoch: int  # 1-based
    epochs: int  # training.epochs: the run's last epoch
    epoch_time_s: float  # this epoch's seconds (training and validation)
    metric: str  # training.checkpoint_metric
    best_epoch: int  # the best epoch so far (0: none)
    best_metric: float  # ``metric`` at ``best_epoch`` (nan: no validation)


def epoch_extra(metrics: dict[str, Any], epochs: int, metric: str) -> dict[str, EpochLine]:
    """``extra`` for the log call of an epoch's line: ``metrics`` is the epoch's (``epoch``,
    ``epoch_time_s``, ``best_epoch``, ``best_metric``), ``epochs`` the run's last epoch, ``metric``
    the checkpoint metric."""
    return {_KEY: EpochLine(int(metrics["epoch"]), int(epochs), float(metrics["epoch_time_s"]),
                            metric, int(metrics.get("best_epoch") or 0),
                            float(metrics.get("best_metric", math.nan)))}


class EpochConsole(logging.StreamHandler):
    """A stream handler that thins a long run's epoch lines (the rule: the module's docstring).

    Args:
        stream: where the lines go (default ``sys.stderr``).
        verbose: show every epoch line (with the same ending).
    """

    def __init__(self, stream=None, *, verbose: bool = False):
        super().__init__(stream)
        self.verbose = verbose
        self._first: tuple[int, float, float] | None = None  # (epoch, created, its epoch_time_s)
        self._last_best = -math.inf  # LogRecord.created of the last new best shown
        self._held: logging.LogRecord | None = None

    def emit(self, record: logging.LogRecord) -> None:
        line = getattr(record, _KEY, None)
        if not isinstance(line, EpochLine):
            self.show_held()
            super().emit(record)
            return
        if self._first is None or line.epoch <= self._first[0]:  # a new run (or a resumed one)
            self._first = (line.epoch, record.created, line.epoch_time_s)
            self._last_best = -math.inf
        first, t_first, first_time = self._first
        done = line.epoch - first + 1
        mean_s = (record.created - t_first + first_time) / done
        shown = self._with_ending(record, line, mean_s)
        new_best = line.best_epoch == line.epoch and math.isfinite(line.best_metric)
        if self.verbose or self._due(line, new_best, record.created, mean_s):
            self._held = None
            if new_best:
                self._last_best = record.created
            super().emit(shown)
        else:
            self._held = shown

    def show_held(self) -> None:
        """Shows the epoch line held back, if any (the run's last so far)."""
        held, self._held = self._held, None
        if held is not None:
            super().emit(held)

    def close(self) -> None:
        self.show_held()
        super().close()

    def _due(self, line: EpochLine, new_best: bool, created: float, mean_s: float) -> bool:
        first = self._first[0]
        total = line.epochs - first + 1
        if total <= SHOW_ALL or line.epoch in (first, line.epochs):
            return True
        if (line.epoch - first) % math.ceil(total / EPOCH_LINES) == 0:
            return True
        return new_best and created - self._last_best >= max(BEST_EVERY_S,
                                                              mean_s * total / EPOCH_LINES)

    @staticmethod
    def _with_ending(record: logging.LogRecord, line: EpochLine,
                     mean_s: float) -> logging.LogRecord:
        """A copy of ``record`` whose message ends with the best epoch and the time left (the
        log file's handler formats the original)."""
        parts = []
        if line.best_epoch and math.isfinite(line.best_metric):
            parts.append("new best" if line.best_epoch == line.epoch else
                         f"best {line.metric} {line.best_metric:.4f} (epoch {line.best_epoch})")
        if line.epoch < line.epochs:
            parts.append(f"about {format_duration(mean_s * (line.epochs - line.epoch))} left")
        copy = logging.makeLogRecord(record.__dict__)
        ending = " | " + ", ".join(parts) if parts else ""
        copy.msg, copy.args = record.getMessage() + ending, None
        return copy
