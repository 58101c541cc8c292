"""Resuming an interrupted sweep: the study is reconciled with the disk, never trusted alone.

A driver killed at any moment leaves trials RUNNING in the study. ``reconcile`` closes as
COMPLETE a trial whose final epoch is on disk, without running it again; continues an unfinished
one from its latest verified checkpoint under its original trial number; and records as FAIL one
whose checkpoints are all damaged (never a silent restart). The driver then samples only the
missing trials, so the sweep ends with exactly ``num_samples`` trials. Epochs that the killed
driver lost from Tune's result.json (and a confirmation run's test metrics) are recovered from
the checkpoint (``tuning.record.write_recovered``), so histories, the report and TensorBoard
keep every epoch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from tuning.record import (
    checkpoint_test_metrics,
    finite,
    latest_checkpoint,
    started_params,
    trial_history,
    trial_key,
    write_recovered,
)
from tuning.space import SearchSpace, compile_space
from tuning.study import fix_params, trial_by_number

__all__ = ["Continuing", "reconcile", "spec_changes"]

log = logging.getLogger("tuning")


@dataclass
class Continuing:
    """A trial of an interrupted sweep that the searcher (``tuning.execution._searcher``) hands
    out again, first. Here, not beside the searcher: the driver reconciles before Ray starts and
    imports Ray Tune only then."""

    number: int  # Optuna trial number (RUNNING in the study)
    params: dict[str, Any]
    checkpoint: str | None  # checkpoint file to resume from, or None to start over


def spec_changes(old: dict, new: dict) -> list[str]:
    """What differs between two frozen specs: the space's top-level keys, sorted, then
    "base config" if the resolved base config differs. Empty when a resume may use ``new``.

    Example:
        >>> spec_changes({"space": {"a": 1, "b": 2}, "base": {}},
        ...              {"space": {"a": 1, "b": 3}, "base": {"x": 1}})
        ['b', 'base config']
    """
    changed = sorted(k for k in set(new["space"]) | set(old["space"])
                     if new["space"].get(k) != old["space"].get(k))
    if new["base"] != old["base"]:
        changed.append("base config")
    return changed


def reconcile(study: optuna.Study, exp_dir: Path, space: SearchSpace,
              key_of: Callable[[int], str] = trial_key) -> list[Continuing]:
    """Brings the trials of an interrupted sweep in line with the disk.

    Returns the trials to continue. A RUNNING trial whose last epoch (``max_epochs``) is on disk
    is closed as COMPLETE with its best value; one with no checkpoint starts from scratch; any
    other one continues from its latest verified checkpoint; one whose checkpoints are all
    damaged is FAIL. Epochs a checkpoint holds but the study lost are reported to the study
    again. For every trial, finished or not, the epochs result.json lost are written to
    ``recovered/<trial>.jsonl`` with the path of the checkpoint they came from; a finished
    confirmation run's test metrics saved with its last checkpoint go to its last row (and, for
    a run still RUNNING in the study, to the study: user attr ``test_metrics``). ``key_of``
    names a trial by its number (``tuning.confirm`` names its runs c0000, ...).
    """
    continuing = []
    for t in study.get_trials(deepcopy=False):
        key = key_of(t.number)
        if t.state not in (TrialState.RUNNING, TrialState.WAITING):
            if _lost_on_disk(exp_dir, key, t):
                path, state, _ = latest_checkpoint(exp_dir, key)
                if state is not None:
                    _recover_rows(exp_dir, key, state["history"], None, path,
                                  checkpoint_test_metrics(path)
                                  if state["epoch"] >= space.max_epochs else {})
            continue
        path, state, damaged = latest_checkpoint(exp_dir, key)
        trial = trial_by_number(study, t.number)
        if state is None and damaged:
            # Never a silent restart from scratch: its work is lost, so the trial is FAIL.
            stopped = t.user_attrs.get("stopped")  # e.g. the full disk that stopped it
            trial.set_user_attr("failure", "checkpoints damaged" +
                                (f" (it had stopped: {stopped})" if stopped else ""))
            study.tell(t.number, state=TrialState.FAIL)
            log.error("%s: all %d checkpoints are damaged; recorded as FAIL", key, damaged)
            continue
        history = state["history"] if state else []
        if "params" not in t.user_attrs:
            # Killed while its parameters were being drawn or written: the values it started
            # with (Tune's params.json) are fixed, define-by-run again returns them and those
            # already drawn, and samples only what is missing (a trial that never started).
            started = started_params(exp_dir, key)
            if started:
                fix_params(study, t.number, started)
                trial = trial_by_number(study, t.number)  # a Trial reads fixed_params once
            trial.set_user_attr("params", compile_space(space.params)(trial))
        for h in history:
            value = h.get(space.metric)
            if h["epoch"] not in t.intermediate_values and finite(value):
                trial.report(float(value), int(h["epoch"]))
        finished = state is not None and state["epoch"] >= space.max_epochs
        if path is not None:
            _recover_rows(exp_dir, key, history, trial, path,
                          checkpoint_test_metrics(path) if finished else {})
        params = study.get_trials(deepcopy=False)[t.number].user_attrs["params"]
        if finished:
            values = [h[space.metric] for h in history if finite(h.get(space.metric))]
            best = (max if space.mode == "max" else min)(values)
            study.tell(t.number, best)
            log.info("%s: finished on disk (%d epochs); recorded as COMPLETE", key,
                     state["epoch"])
        else:
            continuing.append(Continuing(t.number, params, path))
            if "stopped" in t.user_attrs:
                log.info("%s had stopped: %s", key, t.user_attrs["stopped"])
            if state is not None:
                log.info("%s: continues after epoch %d (its newest checkpoint)", key,
                         state["epoch"])
            elif started_params(exp_dir, key) is not None:
                log.info("%s: starts again from the first epoch (no checkpoint was saved)", key)
    return continuing


def _lost_on_disk(exp_dir: Path, key: str, t) -> bool:
    """Whether the finished study trial ``t`` (a ``FrozenTrial``) reported an epoch that its
    rows on disk lack, or is a confirmation run whose last row lacks its test metrics: then its
    checkpoint is read (only then, since reading verifies every checkpoint of the trial)."""
    rows = trial_history(exp_dir, key)
    if not set(t.intermediate_values) <= {int(r["epoch"]) for r in rows}:
        return True
    if "search_trial" not in t.user_attrs or t.state != TrialState.COMPLETE:
        return False
    wanted = set(t.user_attrs.get("test_metrics") or ())
    return not rows or not wanted or not wanted <= set(rows[-1])


def _recover_rows(exp_dir: Path, key: str, history: list[dict], trial, checkpoint: str,
                  test_metrics: dict) -> None:
    """Writes the epochs of ``history`` (the state of ``checkpoint``, its path or URI) that
    result.json lacks (``write_recovered``); the last epoch's row names ``checkpoint`` (key
    ``checkpoint_path``, which trials.csv and export use) unless result.json's row of it names
    its folder. A finished run's ``test_metrics`` join its last row and, when ``trial`` (an
    Optuna ``Trial`` still running) is given, its user attrs."""
    if not history:
        return
    on_disk = {int(r["epoch"]): r for r in trial_history(exp_dir, key)}
    rows = {int(h["epoch"]): dict(h) for h in history if int(h["epoch"]) not in on_disk}
    last = int(history[-1]["epoch"])
    extra = {} if on_disk.get(last, {}).get("checkpoint_dir_name") else \
        {"checkpoint_path": checkpoint}
    if test_metrics:
        if trial is not None:
            trial.set_user_attr("test_metrics", test_metrics)
        extra.update(test_metrics)
    if not extra.items() <= on_disk.get(last, {}).items():
        rows[last] = {**history[-1], **extra}
    write_recovered(exp_dir, key, [rows[e] for e in sorted(rows)])
    lost = [str(e) for e in sorted(rows) if e not in on_disk]
    if lost:
        log.info("%s: epoch(s) %s recovered from its checkpoint (the interrupted driver had "
                 "not written them)", key, ", ".join(lost))
