"""The driver's MLflow session: where the sweep is tracked, live syncs while it runs, the
phase-end and final syncs (``SweepRuns.sync``, the same path ``python -m tuning.track`` takes).

Logging happens in the driver, which already has every trial's every epoch (the batched reports
on disk), so no Ray worker needs a route to the tracking server. A thread syncs every
``LIVE_INTERVAL_S`` seconds while Tune runs (the trials never wait for it); each phase's end
and the sweep's end sync once more, the end also uploading the sweep's files. A failing server
costs a warning (once, until it answers again) and at most ``core.tracking.TIMEOUT_S`` seconds
per request; what it missed is sent by the next sync, the next resume or ``tuning.track``.

The tracking URI and experiment of a sweep are kept in ``tracking.json`` in its directory, so
a resume without ``--mlflow`` goes on logging to the same place.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from core.cli import EXIT_INTERRUPTED, EXIT_OK
from core.files import atomic_write_text
from core.tracking import Tracker, TrackingError, check_uri, mlflow_missing, normalize_uri
from tuning.confirm import confirm_key
from tuning.record import trial_key
from tuning.space import SearchSpace
from tuning.study import CONFIRM_SUFFIX, load_confirm_study, load_study, storage_of
from tuning.tracking._sweep_runs import SweepRuns

__all__ = ["LIVE_INTERVAL_S", "TRACKING_FILE", "SweepTracking", "open_tracking",
           "remember_target", "tracking_problem", "tracking_target"]

log = logging.getLogger("tuning")

TRACKING_FILE = "tracking.json"  # {"mlflow": URI, "experiment": name} of a tracked sweep
LIVE_INTERVAL_S = 10.0  # seconds between live syncs while Tune runs
BACKOFF_S = 60.0  # after a failed sync, the live thread waits this long
SYNC_BUDGET_S = 60.0  # the longest a live or phase-end sync may take (a slow server)
FINAL_BUDGET_S = 180.0  # the longest the sweep's last sync may hold its end


def tracking_problem(uri: str | None, space: SearchSpace | None) -> str | None:
    """What stops the sweep from tracking as asked, naming the flag or key, or None: a bad
    ``--mlflow`` URI (``core.tracking.check_uri``; the space's ``tracking.mlflow`` is checked
    with the space), or MLflow not installed when either asks for it."""
    if uri is not None:
        problem = check_uri(uri)
        if problem:
            return f"--mlflow: {problem}"
    if uri is not None or (space is not None and space.tracking_uri):
        missing = mlflow_missing()
        if missing:
            return f"{'--mlflow' if uri else space.source + ': tracking.mlflow'}: {missing}"
    return None


def tracking_target(exp_dir: Path, space: SearchSpace, spec: dict,
                    uri: str | None) -> tuple[str, str] | None:
    """The sweep's (tracking URI, experiment), or None when it is not tracked: ``uri``
    (``--mlflow``), else the one ``tracking.json`` remembers, else the space's ``tracking:``.
    The experiment is the space's ``tracking.experiment``, else the remembered one, else the
    space file's name."""
    saved: dict = {}
    path = Path(exp_dir) / TRACKING_FILE
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            saved = {}
    uri = uri or saved.get("mlflow") or space.tracking_uri
    if not uri:
        return None
    experiment = space.tracking_experiment or saved.get("experiment") or \
        Path(spec.get("space_file") or "seqtune").stem
    return normalize_uri(uri), experiment


def remember_target(exp_dir: Path, uri: str, experiment: str) -> None:
    """Writes ``tracking.json``: a later resume or ``tuning.track`` logs to the same place."""
    atomic_write_text(Path(exp_dir) / TRACKING_FILE,
                      json.dumps({"mlflow": uri, "experiment": experiment}, indent=2) + "\n")


def _phases(study) -> list:
    """The search study, and its confirmation study when the storage holds one."""
    import optuna

    phases = [(study, trial_key, "search")]
    storage = storage_of(study)
    name = study.study_name + CONFIRM_SUFFIX
    if any(s.study_name == name for s in storage.get_all_studies()):
        # Read only: the sampler is never asked (a TPE one would be built for nothing).
        phases.append((optuna.load_study(study_name=name, storage=storage,
                                         sampler=optuna.samplers.RandomSampler()), confirm_key,
                       "confirm"))
    return phases


class SweepTracking:
    """The driver's side: ``start`` (live syncs of ``study`` in a thread), ``phase_end``,
    ``finish`` (from the disk, with the artifacts). Never raises for the server's sake."""

    def __init__(self, runs: SweepRuns):
        self.runs = runs
        self.failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sync(self, phases, *, driver_running: bool, final: str | None = None,
              cancelled=None) -> bool:
        try:
            logged = self.runs.sync(phases, driver_running=driver_running, final=final,
                                    budget_s=SYNC_BUDGET_S if final is None else FINAL_BUDGET_S,
                                    cancelled=cancelled)
        except TrackingError as exc:
            if not self.failing:
                log.warning("warning: %s; the sweep goes on, and the missing entries are sent "
                            "later (the next sync, a resume, or: python -m tuning.track %s "
                            "--mlflow %s)", exc, self.runs.exp_dir, self.runs.tracker.uri)
            self.failing = True
            return False
        except Exception as exc:  # the tracker never stops the sweep
            log.warning("warning: MLflow logging failed: %r", exc)
            self.failing = True
            return False
        if self.failing:
            log.info("MLflow at %s answers again: %d missing epoch(s) sent",
                     self.runs.tracker.uri, logged)
        self.failing = False
        return True

    def start(self, study) -> None:
        """Syncs ``study`` (and its confirmation) every ``LIVE_INTERVAL_S`` s in a thread."""
        def loop() -> None:
            wait = 0.0
            while not self._stop.wait(wait):
                ok = self._sync(_phases(study), driver_running=True,
                                cancelled=self._stop.is_set)
                wait = LIVE_INTERVAL_S if ok else BACKOFF_S

        self._thread = threading.Thread(target=loop, name="seqtune-mlflow", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the live thread (waits for a sync in progress: bounded by the timeouts)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def phase_end(self, study) -> None:
        """One sync of ``study`` (and its confirmation) now: a phase has ended."""
        self._sync(_phases(study), driver_running=True)

    def finish(self, code: int) -> None:
        """The last sync, from the disk (the studies are closed): every trial's final state,
        the parent's artifacts and end status (FINISHED, KILLED when interrupted, FAILED)."""
        self.stop()
        exp_dir = self.runs.exp_dir
        try:
            study = load_study(exp_dir)
            confirm = load_confirm_study(exp_dir)
        except ValueError as exc:
            log.warning("warning: MLflow: the study cannot be read: %s", exc)
            return
        phases = [(study, trial_key, "search")]
        if confirm is not None:
            phases.append((confirm, confirm_key, "confirm"))
        status = {EXIT_OK: "FINISHED", EXIT_INTERRUPTED: "KILLED"}.get(code, "FAILED")
        if self._sync(phases, driver_running=False, final=status):
            log.info("MLflow: sweep %s logged to %s (experiment %s)", exp_dir.name,
                     self.runs.tracker.uri, self.runs.tracker.experiment)
        else:
            log.warning("warning: MLflow lacks part of this sweep; its files are complete. "
                        "Send the rest: python -m tuning.track %s", exp_dir)


def open_tracking(exp_dir: Path, spec: dict, space: SearchSpace,
                  uri: str | None) -> SweepTracking | None:
    """The sweep's tracking session (``tracking_target``), or None when it is not tracked;
    remembers the target in ``tracking.json``. Contacts no server."""
    target = tracking_target(exp_dir, space, spec, uri)
    if target is None:
        return None
    missing = mlflow_missing()
    if missing:  # a resume of a tracked sweep where MLflow is gone
        log.warning("warning: %s was tracked in MLflow, which %s; not tracked now", exp_dir.name,
                    missing)
        return None
    remember_target(exp_dir, *target)
    runs = SweepRuns(Tracker(*target), exp_dir, spec, space)
    log.info("MLflow: logging to %s, experiment %s (parent run %s)", target[0], target[1],
             runs.id)
    return SweepTracking(runs)
