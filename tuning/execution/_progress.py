"""The sweep's live view: one progress line between ASHA's rungs, in place of Ray's tables.

Ray's trial table changes only when a trial reports, and trials report at rungs (and every
couple of seconds at least, ``tuning.execution._trainable.REPORT_INTERVAL_S``), so a first-time user
saw RUNNING for minutes; its boxes show internal keys, and its "current best trial" is the best
*last* result, not the sweep's rule. Ray's tables therefore go to ``sweep.log`` (the console
gets them with ``--verbose``: ``tuning.execution._tuner``). ``Progress`` counts every epoch a report
carries (batched ones included), the trials done, pruned and failed, and the best so far by the
sweep's rule (each trial's best epoch, ties to the lower val_loss: ``core.selection.improves``;
between trials, ties to the earlier one: ``tuning.record.best_trial``), and logs
one line at most every ``interval_s`` seconds::

    progress: 3 of 16 trials done (1 pruned, 1 failed), 2 running, 41 epochs trained; best
    t0002 val_accuracy 0.8125 (epoch 4); 2m10s so far, about 6m left
"""

from __future__ import annotations

import logging
import time

from ray.tune import Callback

from core.console import format_duration
from core.selection import improves
from tuning.record import EARLIER_EPOCHS

# format_duration (core.console) is re-exported for the sweep's code that imports it here.
__all__ = ["Progress", "format_duration"]

log = logging.getLogger("tuning")


class Progress(Callback):
    """Tune callback: logs the sweep's progress every ``interval_s`` seconds of results.

    Args:
        total: trials the sweep ends with (``num_samples``).
        done_before: trials already finished when this run started (a resumed sweep).
        interval_s: least seconds between two lines.
        metric, mode: the sweep's metric and its direction ("max", "min"); None: no best shown.
        max_epochs: a trial ending before it was stopped by ASHA (pruned).
    """

    def __init__(self, total: int, done_before: int = 0, interval_s: float = 15.0,
                 clock=time.monotonic, *, metric: str | None = None, mode: str = "max",
                 max_epochs: int | None = None):
        self.total = total
        self.metric, self.mode, self.max_epochs = metric, mode, max_epochs
        self.pruned = 0
        self.best: dict | None = None  # {"trial", "value", "val_loss", "epoch"}
        self._trial_best: dict[str, dict] = {}  # trial key -> its best epoch so far
        self.done_before = done_before
        self.interval_s = interval_s
        self.clock = clock
        self.started = clock()
        self.last_line = self.started
        self.done = 0
        self.failed = 0
        self.epochs = 0
        self._running: set[str] = set()
        self._max_epoch: dict[str, int] = {}
        self._first_start: float | None = None  # the estimate leaves Ray's start-up out

    def on_trial_start(self, iteration: int, trials: list, trial, **info) -> None:
        if self._first_start is None:
            self._first_start = self.clock()
        self._running.add(trial.trial_id)

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        seen = self._max_epoch.get(trial.trial_id, result.get("start_epoch", 0))
        epochs = [r.get("epoch") for r in result.get(EARLIER_EPOCHS) or []]
        epochs.append(result.get("epoch"))
        new = [e for e in epochs if isinstance(e, int) and e > seen]
        self.epochs += len(new)
        if self.metric is not None and not result.get("failure"):
            key = (getattr(trial, "config", None) or {}).get("trial_key", trial.trial_id)
            for row in [*(result.get(EARLIER_EPOCHS) or []), result]:
                # a trial's best epoch: ties to the lower val_loss, as for best.pt
                best = self._trial_best.get(key, {})
                if improves(row.get(self.metric), best.get("value"), self.mode,
                            val_loss=row.get("val_loss"), best_val_loss=best.get("val_loss")):
                    self._trial_best[key] = {"trial": key, "value": row[self.metric],
                                             "val_loss": row.get("val_loss"),
                                             "epoch": row.get("epoch")}
            # the sweep's best trial: ties to the earlier trial (tuning.record.best_trial)
            sign = 1 if self.mode == "max" else -1
            self.best = max(self._trial_best.values(),
                            key=lambda b: (sign * b["value"], [-ord(ch) for ch in b["trial"]]),
                            default=None)
        if new:
            self._max_epoch[trial.trial_id] = max(new)
        self._maybe_log()

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        last = getattr(trial, "last_result", None) or {}
        if last.get("failure"):
            self._end(trial.trial_id, failed=True)
            return
        reached = self._max_epoch.get(trial.trial_id, 0)
        if self.max_epochs is not None and 0 < reached < self.max_epochs:
            self.pruned += 1
        self._end(trial.trial_id, failed=False)

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        self._end(trial.trial_id, failed=True)

    def _end(self, trial_id: str, failed: bool) -> None:
        self._running.discard(trial_id)
        self.done += 1
        self.failed += failed
        self._maybe_log()

    def line(self) -> str:
        """The progress line as of now."""
        elapsed = self.clock() - self.started
        done = self.done_before + self.done
        ended = [f"{n} {what}" for n, what in ((self.pruned, "pruned"), (self.failed, "failed"))
                 if n]
        text = (f"progress: {done} of {self.total} trials done"
                + (f" ({', '.join(ended)})" if ended else "")
                + f", {len(self._running)} running, {self.epochs} epoch"
                + ("" if self.epochs == 1 else "s") + " trained; ")
        if self.best is not None:
            text += (f"best {self.best['trial']} {self.metric} {self.best['value']:.4f} (epoch "
                     f"{self.best['epoch']}); ")
        text += f"{format_duration(elapsed)} so far"
        if self.done and done < self.total:
            text += f", about {format_duration(self.seconds_left())} left"
        elif not self.done:
            text += ", an estimate follows the first finished trial"
        return text

    def seconds_left(self) -> float:
        """The estimate: seconds per trial of this run since its first trial started, times
        the trials to go. Running trials count done by the share of ``max_epochs`` they trained
        (when known): trials run side by side, and counting only finished ones at the first
        finish estimated about as many times too long as trials ran at once."""
        now = self.clock()
        active = now - (self._first_start if self._first_start is not None else self.started)
        finished = float(self.done)
        if self.max_epochs:
            finished += sum(min(self._max_epoch.get(t, 0) / self.max_epochs, 1.0)
                            for t in self._running)
        to_go = max(self.total - self.done_before - finished, 0.0)
        return active / finished * to_go if finished else 0.0

    def _maybe_log(self) -> None:
        now = self.clock()
        if now - self.last_line >= self.interval_s:
            self.last_line = now
            log.info("%s", self.line())
