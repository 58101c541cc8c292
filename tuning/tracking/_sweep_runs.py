"""A sweep in MLflow: one parent run per sweep, one nested child run per trial and per
confirmation run, every epoch a step.

``SweepRuns.sync`` sends what the sweep's records hold and MLflow does not have yet: it is
called by the driver (live, at each phase's end, at the end) and by ``python -m tuning.track``,
and it always reads the same records, the studies (states, parameters) and the trials' per-epoch
histories through ``tuning.record.trial_history`` (the batched reports expanded, recovered
epochs included: what TensorBoard gets, ``tuning.record._tensorboard``).

Runs are found by their tags, never remembered: ``seqtune.sweep_id`` (the sweep's name and
creation time) on every run, ``seqtune.trial`` (t0003, c0001) on the children. So a resumed
sweep continues the same runs, and an epoch is logged once (``core.tracking.Tracker``).

What each run holds (docs/tracking.md):

- parent: the sweep's settings as params, ``sweep.yaml``, and at the end ``best_config.yaml``,
  ``trials.csv``, ``confirmation.json`` and the report (HTML and figures) as artifacts, the best
  value as the metric ``best_<metric>``; status FINISHED, KILLED (interrupted) or FAILED.
- child: the trial's sampled values as params, its full config as ``config.yaml``, every epoch's
  metrics (``tuning.record.scalar_tags``) with ``step`` = epoch; tag ``seqtune.state``
  complete, pruned (``seqtune.pruned_at_epoch``: its rung), failed (``seqtune.failure``: the
  reason), running or interrupted; status FINISHED, FAILED, RUNNING or KILLED.
"""

from __future__ import annotations

import csv
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from core.tracking import Tracker, TrackingError
from tuning.record import (
    BEST_CONFIG_FILE,
    CONFIRMATION_CSV_FILE,
    CONFIRMATION_FILE,
    SPEC_FILE,
    TRIALS_CSV_FILE,
    scalar_tags,
    trial_history,
)
from tuning.space import SearchSpace

__all__ = ["SweepRuns", "child_state", "sweep_id"]

log = logging.getLogger("tuning")

SWEEP_ID_TAG = "seqtune.sweep_id"
TRIAL_TAG = "seqtune.trial"
EPOCHS_TAG = "seqtune.epochs_logged"  # set after the epochs are logged: skips re-reading them


def sweep_id(name: str, spec: dict) -> str:
    """The key of a sweep's runs: its name and creation time (a sweep of the same name made
    later, elsewhere, is another sweep).

    Example:
        >>> sweep_id("gru-1", {"created": "2026-12-07T15:00:00"})
        'gru-1@2026-12-07T15:00:00'
    """
    return f"{name}@{spec.get('created', '')}"


def child_state(trial, driver_running: bool) -> tuple[str, dict[str, str]]:
    """The MLflow status and state tags of an Optuna trial (``FrozenTrial``).

    A trial still RUNNING in the study is a RUNNING run while its driver runs, and KILLED
    (``interrupted``) once the driver has stopped; a resume sets it RUNNING again.
    """
    state = trial.state.name
    if state == "COMPLETE":
        return "FINISHED", {"seqtune.state": "complete"}
    if state == "PRUNED":
        epochs = max(trial.intermediate_values) if trial.intermediate_values else 0
        tags = {"seqtune.state": "pruned", "seqtune.pruned_at_epoch": str(epochs)}
        if trial.user_attrs.get("failure"):
            tags["seqtune.failure"] = str(trial.user_attrs["failure"])[:5000]
        return "FINISHED", tags
    if state == "FAIL":
        return "FAILED", {"seqtune.state": "failed",
                          "seqtune.failure": str(trial.user_attrs.get("failure", ""))[:5000]}
    if driver_running:
        return "RUNNING", {"seqtune.state": "running"}
    return "KILLED", {"seqtune.state": "interrupted"}


def _sweep_params(space: SearchSpace, spec: dict) -> dict[str, Any]:
    """The parent run's params: the sweep's settings."""
    return {"metric": space.metric, "mode": space.mode, "num_samples": space.num_samples,
            "max_epochs": space.max_epochs, "asha.grace_period": space.grace_period,
            "asha.reduction_factor": space.reduction_factor, "sampler": space.sampler,
            "sampler.seed": space.sampler_seed, "trials_per_gpu": space.trials_per_gpu,
            "cpus_per_trial": space.cpus_per_trial, "confirm.top_k": space.confirm_top_k,
            "confirm.seeds": space.confirm_seeds, "space_file": spec.get("space_file", ""),
            "base_config": str(space.base_config),
            "overrides": " ".join(spec.get("overrides") or []) or "-",
            "search": ", ".join(p.name for p in space.params if p.type != "fixed")}


class SweepRuns:
    """The MLflow runs of one sweep (``exp_dir``), synced from its records.

    Args:
        tracker: the MLflow experiment (``core.tracking.Tracker``).
        exp_dir: the experiment directory.
        spec: its frozen spec (``sweep.yaml``); space: the space read from it.
    """

    def __init__(self, tracker: Tracker, exp_dir: Path, spec: dict, space: SearchSpace):
        self.tracker = tracker
        self.exp_dir = Path(exp_dir)
        self.spec = spec
        self.space = space
        self.id = sweep_id(self.exp_dir.name, spec)
        self.lock = threading.Lock()  # one sync at a time (the live thread and the driver)
        self._done: dict[str, set[int]] = {}  # run id -> epochs known to be logged

    def sync(self, phases: list[tuple[Any, Callable[[int], str], str]], *,
             driver_running: bool, final: str | None = None, budget_s: float | None = None,
             cancelled: Callable[[], bool] | None = None) -> int:
        """Sends what MLflow lacks: the parent run, and per trial of each ``(study, key_of,
        phase)`` in ``phases`` its run, params, config, new epochs and state. With ``final``
        (the parent's end status: FINISHED, KILLED or FAILED) the parent also gets the sweep's
        files as artifacts and its best value. Returns how many epochs it logged.

        ``budget_s`` bounds the time of a sync (a slow server: each request is bounded by
        ``core.tracking.TIMEOUT_S``, but a sweep has many runs); ``cancelled`` ends it early and
        quietly (the driver is stopping and syncs once more itself).

        Raises:
            TrackingError: the server failed, or the sync ran past ``budget_s``; what was sent
                before stays (a later sync goes on from there).
        """
        end = None if budget_s is None else time.monotonic() + budget_s
        with self.lock:
            t = self.tracker
            runs = self._one_run_each(t.find_runs({SWEEP_ID_TAG: self.id}))
            parents = [r for r in runs if r.data.tags.get("seqtune.kind") == "sweep"]
            if parents:
                parent = parents[0]
            else:
                parent = t.create_run(self.exp_dir.name, {SWEEP_ID_TAG: self.id,
                                                          "seqtune.kind": "sweep",
                                                          "seqtune.dir": str(self.exp_dir)})
                t.log_params(parent.info.run_id, _sweep_params(self.space, self.spec), {})
                t.log_file(parent.info.run_id, self.exp_dir / SPEC_FILE)
            parent_id = parent.info.run_id
            children = {r.data.tags.get(TRIAL_TAG): r for r in runs
                        if r.data.tags.get(TRIAL_TAG)}
            logged = 0
            for study, key_of, phase in phases:
                for trial in study.get_trials(deepcopy=False):
                    if "warm_start_from" in trial.user_attrs:
                        continue  # an earlier sweep's trial, imported: it trained nothing here
                    if cancelled is not None and cancelled():
                        return logged
                    if end is not None and time.monotonic() > end:
                        raise TrackingError(f"MLflow at {t.uri}: not done after {budget_s:g} s "
                                            "(a slow server)")
                    logged += self._sync_trial(trial, key_of(trial.number), phase,
                                               children.get(key_of(trial.number)), parent_id,
                                               driver_running)
            if final is not None:
                self._finish(parent, final)
            elif parent.info.status != "RUNNING":
                t.set_status(parent_id, "RUNNING", parent.info.status)  # a resumed sweep
            return logged

    def _one_run_each(self, runs: list) -> list:
        """``runs`` with one run for the sweep and one per trial. A create that timed out here
        may still have been committed by the server, so the retry made a second run: of each
        such group the run the most epochs went to (the parent: the most children point to; on
        a tie the older) is kept and the others are deleted."""
        groups: dict[str, list] = {}
        for run in runs:
            tags = run.data.tags
            key = tags.get(TRIAL_TAG) or ("" if tags.get("seqtune.kind") == "sweep" else None)
            if key is not None:
                groups.setdefault(key, []).append(run)
        if all(len(g) == 1 for g in groups.values()):
            return runs
        pointed = [r.data.tags.get("mlflow.parentRunId") for r in runs]

        def weight(run) -> int:
            if run.data.tags.get(TRIAL_TAG):
                return int(run.data.tags.get(EPOCHS_TAG) or 0)
            return pointed.count(run.info.run_id)

        extra = set()
        for group in groups.values():
            keep = max(group, key=lambda r: (weight(r), -group.index(r)))
            for run in group:
                if run is not keep:
                    log.info("MLflow: run %s duplicates %s (%s): deleted", run.info.run_id,
                             keep.info.run_id, run.info.run_name)
                    self.tracker.delete_run(run.info.run_id)
                    extra.add(run.info.run_id)
        return [r for r in runs if r.info.run_id not in extra]

    def _sync_trial(self, trial, key: str, phase: str, run, parent_id: str,
                    driver_running: bool) -> int:
        t = self.tracker
        params = trial.user_attrs.get("params") or trial.params
        rows = trial_history(self.exp_dir, key)
        if run is None:
            if not rows and not trial.state.is_finished():
                return 0  # sampled, not started: it gets its run with its first epoch
            start = trial.datetime_start.timestamp() if trial.datetime_start else None
            run = t.create_run(key, {SWEEP_ID_TAG: self.id, TRIAL_TAG: key,
                                     "seqtune.kind": "trial" if phase == "search" else
                                     "confirmation", "seqtune.phase": phase,
                                     "seqtune.number": str(trial.number)},
                               parent_id=parent_id, start_s=start)
            self._done[run.info.run_id] = set()
            config = self._config_text(params, key)
            if config is not None:
                t.log_text(run.info.run_id, config, "config.yaml")
        run_id, tags = run.info.run_id, run.data.tags
        t.log_params(run_id, params, run.data.params)
        epochs = {int(r["epoch"]) for r in rows}
        done = self._done.get(run_id)
        if done is None:
            done = set(epochs) if tags.get(EPOCHS_TAG) == str(len(epochs)) and epochs and \
                max(epochs) == len(epochs) else t.logged_epochs(run_id)
            self._done[run_id] = done
        logged = t.log_epochs(run_id, rows, scalar_tags, done)
        status, state_tags = child_state(trial, driver_running)
        if trial.state.name == "COMPLETE" and trial.value is not None:
            state_tags[f"seqtune.best_{self.space.metric}"] = f"{trial.value:.6g}"
        t.set_tags(run_id, {**state_tags, EPOCHS_TAG: str(len(done & epochs))}, tags)
        end = trial.datetime_complete.timestamp() if trial.datetime_complete else None
        t.set_status(run_id, status, run.info.status, end_s=end)
        return logged

    def _config_text(self, params: dict, key: str) -> str | None:
        """The trial's full config (the base config, its params, the sweep's epochs) as YAML,
        or None when it cannot be built (a trial whose params break the config)."""
        from core.config import ConfigError, config_to_dict
        from tuning.space import trial_config  # torch: only here

        try:
            cfg = trial_config(self.spec["base"], params, self.space.max_epochs, key,
                               self.space.cpus_per_trial)
        except (ConfigError, ValueError, TypeError):
            return None
        return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)

    def _finish(self, parent, status: str) -> None:
        """The parent's artifacts, best value and end status."""
        t, run_id = self.tracker, parent.info.run_id
        for name in (SPEC_FILE, BEST_CONFIG_FILE, TRIALS_CSV_FILE, CONFIRMATION_FILE,
                     CONFIRMATION_CSV_FILE):
            if (self.exp_dir / name).is_file():
                t.log_file(run_id, self.exp_dir / name)
        best = self._best_value()
        if best is not None:
            t.log_values(run_id, {f"best_{self.space.metric}": best})
        self._log_report(run_id)
        t.set_status(run_id, status, parent.info.status)

    def _best_value(self) -> float | None:
        """The best epoch's value of the best trial, from trials.csv (the sweep's own table)."""
        path = self.exp_dir / TRIALS_CSV_FILE
        if not path.is_file():
            return None
        column = f"best_{self.space.metric}"
        values = []
        with path.open() as f:
            for row in csv.DictReader(f):
                if row.get("phase") == "search" and row.get(column) not in (None, ""):
                    values.append(float(row[column]))
        if not values:
            return None
        return max(values) if self.space.mode == "max" else min(values)

    def _log_report(self, run_id: str) -> None:
        """The report (``tuning.report``: HTML and figures) under ``report/``; a report that
        cannot be made (no matplotlib) is left out with a warning."""
        from tuning.report import write_report

        with tempfile.TemporaryDirectory(prefix="seqtune-report-") as tmp:
            try:
                write_report(self.exp_dir, Path(tmp))
            except (ImportError, OSError, ValueError) as exc:
                log.warning("MLflow: no report artifact: %s", exc)
                return
            self.tracker.log_file(run_id, Path(tmp), "report")
