"""A Ray Tune searcher that drives an Optuna study and keeps its bookkeeping truthful.

Unlike Ray's ``OptunaSearch``, which tells Optuna that an ASHA-stopped trial is COMPLETE with its
truncated value, this searcher records every epoch as an intermediate value and ends each trial as

- COMPLETE with its best value over epochs, when it trained to ``max_epochs``;
- PRUNED, when the scheduler stopped it earlier (Optuna then treats it as a partial result);
- FAIL, when it errored (after its retries), reported a non-finite loss, ran out of memory, or
  its sampled parameters made an invalid config (never retried); the ``failure`` user attribute
  holds the reason's text and ``failure_kind`` its kind (``tuning.study._sampler``);
- RUNNING, with the reason in its ``stopped`` attribute, when the disk filled up
  (``out_of_space``): the sweep stops and a resume continues the trial.

It can also hand out *continuing* trials first: trials of an interrupted sweep that resume from
their last checkpoint under their original Optuna trial number (see ``tuning.execution._resume``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune import Callback
from ray.tune.search import Searcher

from tuning.execution._resume import Continuing
from tuning.record import finite, trial_key
from tuning.study import error_reason, trial_by_number

# Continuing (tuning.execution._resume, which makes them) is re-exported for the searcher's users.
__all__ = ["Continuing", "StudySearcher", "TrialErrors"]

log = logging.getLogger("tuning")


class StudySearcher(Searcher):
    """Ray Tune searcher over an Optuna study: each suggestion is a study trial (continuing ones
    first), each epoch an intermediate value, each end COMPLETE, PRUNED or FAIL (module
    docstring). ``define`` is ``tuning.space.compile_space``'s define-by-run function;
    ``on_change`` runs whenever a trial ends."""

    def __init__(self, study: optuna.Study, define: Callable[[Any], dict], *, metric: str,
                 mode: str, max_epochs: int, continuing: list[Continuing] | None = None,
                 fixed: dict[str, Any] | None = None, on_change: Callable[[], None] | None = None,
                 key_of: Callable[[int], str] = trial_key,
                 error_reason: Callable[[str], str | None] | None = None):
        super().__init__(metric=metric, mode=mode)
        self.study = study
        self.define = define
        self.max_epochs = max_epochs
        self.continuing = list(continuing or [])
        self.fixed = dict(fixed or {})  # sweep-level settings every trial receives
        self.on_change = on_change
        self.key_of = key_of  # trial number -> trial name (t0007; c0003 for confirmation runs)
        self.error_reason = error_reason  # Tune trial id -> why it errored (TrialErrors.reason)
        self._live: dict[str, optuna.trial.Trial] = {}
        self._reported: dict[str, set[int]] = {}
        self.out_of_space: str | None = None  # why a trial could not write: the sweep stops

    # Tune calls this when metric/mode come from TuneConfig; ours are set in __init__.
    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict | None:
        if self.continuing:
            c = self.continuing.pop(0)
            trial = trial_by_number(self.study, c.number)
            params, resume_from = c.params, c.checkpoint
            reported = set(self.study.get_trials(deepcopy=False)[c.number]
                           .intermediate_values)
        else:
            trial = self.study.ask()
            params = self.define(trial)
            trial.set_user_attr("params", params)
            resume_from, reported = None, set()
        trial.set_user_attr("tune_trial_id", trial_id)
        self._live[trial_id] = trial
        self._reported[trial_id] = reported
        return {**self.fixed, "params": params, "trial_key": self.key_of(trial.number),
                "resume_from": resume_from, "suggested_at": time.time()}

    def _report(self, trial_id: str, result: dict) -> None:
        for row in result.get("earlier_epochs") or []:  # epochs batched between ASHA rungs
            self._report_epoch(trial_id, row)
        self._report_epoch(trial_id, result)
        test = {k: v for k, v in result.items() if k.startswith("test_") and finite(v)}
        if test and trial_id in self._live:  # a confirmation run's held-out metrics
            self._live[trial_id].set_user_attr("test_metrics", test)

    def _report_epoch(self, trial_id: str, result: dict) -> None:
        trial = self._live.get(trial_id)
        if trial is None or self.metric not in result or "epoch" not in result:
            return
        step, value = int(result["epoch"]), result[self.metric]
        if step in self._reported[trial_id] or not finite(value):
            return
        trial.report(float(value), step)
        self._reported[trial_id].add(step)
        if step == min(self._reported[trial_id]):
            if "gpu_id" in result:
                trial.set_user_attr("gpu", f"{result['gpu_id']} {result.get('gpu_name', '')}"
                                    .strip())
            if "node_id" in result:
                trial.set_user_attr("node", result["node_id"][:12])

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._report(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        trial = self._live.get(trial_id)
        if trial is None:
            return
        result = result or {}
        if not error:
            self._report(trial_id, result)  # Tune skips on_trial_result on the stopping epoch
        del self._live[trial_id]
        self._reported.pop(trial_id, None)
        frozen = self.study.get_trials(deepcopy=False)[trial.number]
        values = frozen.intermediate_values
        if not error and result.get("failure_kind") == "no disk space":
            # Not the trial's fault, and every trial would meet the same full disk: the sweep
            # stops (``tuning.execution._tuner``) and the trial stays RUNNING, so that a resume
            # continues it; the cause is kept for that resume (``tuning.execution._resume``) and the
            # console.
            trial.set_user_attr("stopped", result["failure"])
            self.out_of_space = result["failure"]
            log.error("%s stopped: %s", self.key_of(trial.number), result["failure"])
            if self.on_change is not None:
                self.on_change()
            return
        if error or result.get("failure"):
            reason = result.get("failure") or (self.error_reason and
                                               self.error_reason(trial_id)) or \
                "error (no reason recorded)"
            kind = result.get("failure_kind") or "error"
            trial.set_user_attr("failure", reason)
            trial.set_user_attr("failure_kind", kind)
            log.warning("%s failed (%s%s): %s", self.key_of(trial.number), kind,
                        "" if kind != "error" else ", after its retries", reason)
            self.study.tell(trial.number, state=TrialState.FAIL)
        elif not values:
            trial.set_user_attr("failure", "ended without reporting an epoch")
            self.study.tell(trial.number, state=TrialState.FAIL)
        elif int(result.get("epoch", max(values))) >= self.max_epochs:
            best = (max if self.mode == "max" else min)(values.values())
            self.study.tell(trial.number, best)
        else:
            self.study.tell(trial.number, state=TrialState.PRUNED)
        if self.on_change is not None:
            self.on_change()


    def close_unfinished(self, why: str) -> int:
        """Ends trials the tuner never finished (e.g. at a time budget): PRUNED with the epochs
        they reported, FAIL when they reported none. Returns how many it closed."""
        closed = 0
        for trial_id in list(self._live):
            trial = self._live.pop(trial_id)
            self._reported.pop(trial_id, None)
            values = self.study.get_trials(deepcopy=False)[trial.number].intermediate_values
            trial.set_user_attr("stopped", why)
            if values:
                self.study.tell(trial.number, state=TrialState.PRUNED)
            else:
                trial.set_user_attr("failure", f"never trained ({why})")
                self.study.tell(trial.number, state=TrialState.FAIL)
            closed += 1
        if closed and self.on_change is not None:
            self.on_change()
        return closed


class TrialErrors(Callback):
    """A Tune callback through which the searcher reads why an errored trial failed.

    Tune hands a searcher only ``error=True``; the exception itself goes to the trial's
    ``error.txt``, which Tune writes (``Trial.handle_error``) before it tells the searcher."""

    def __init__(self) -> None:
        self._trials: dict[str, Any] = {}

    def on_trial_start(self, iteration: int, trials: list, trial, **info) -> None:
        self._trials[trial.trial_id] = trial

    def on_step_begin(self, iteration: int, trials: list, **info) -> None:
        for t in trials:  # a trial that fails before it starts has an error file too
            self._trials.setdefault(t.trial_id, t)

    def reason(self, trial_id: str) -> str | None:
        """The last attempt's exception as ``Type: message``, or None when Tune wrote none."""
        trial = self._trials.get(trial_id)
        path = getattr(trial, "error_file", None) if trial is not None else None
        if not path:
            return None
        try:
            return error_reason(Path(path).read_text(errors="replace"))
        except OSError:
            return None
