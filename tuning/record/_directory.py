"""A sweep's experiment directory: every file name in it, the frozen spec, the lock, the trials.

The layout::

    runs/sweeps/<name>/
      sweep.yaml          frozen spec: the space as read, the resolved base config, the budget
      study.db            Optuna study (SQLite): optuna-dashboard sqlite:///.../study.db
      trials.csv          one row per trial: status, epochs, best/last metric, params, checkpoint
      best_config.yaml    complete standalone config of the best trial (python -m core.train);
                          with confirmation, of the confirmed winner
      confirmation.json   confirmation phase: candidates, runs, mean / sd / 95% interval, winner
      confirmation.csv    the same per-candidate table (tuning.confirm)
      sweep.log           the driver's log
      sweep.lock          "<pid> <host>" while a driver runs the sweep
      tensorboard/<trial>/  every epoch of every trial (written after each Tune run)
      recovered/<trial>.jsonl  epochs a killed driver lost from Tune's result.json, recovered
                          on resume from the trial's checkpoint (tuning.execution._resume)
      tune/run-<k>/<trial>/   Ray Tune's trial directories and checkpoints, one run per start
                          (search trials t0000..., confirmation runs c0000...)

With an object-store ``--storage-path`` the ``tune`` folder lives at the URI the spec names
(``trial_storage``) and the rest stays local (``tuning.record._trial_store``).

This module reads and writes files only; it imports neither Ray, Optuna nor torch.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from core.config import load_yaml
from core.files import atomic_write_text
from tuning.errors import SweepError
from tuning.record._trial_store import TrialStore
from tuning.space import SearchSpace, parse_space

__all__ = ["BEST_CONFIG_FILE", "ENSEMBLE_CONFIG_FILE", "FINAL_CONFIG_FILE", "SweepError",
           "CHECKPOINT_FILE", "CONFIRMATION_CSV_FILE",
           "CONFIRMATION_FILE", "LEDGER", "LOCK_FILE", "LOG_FILE", "PARAMS_FILE", "REPORT_DIR",
           "RECOVERED_DIR", "RESULT_FILE", "SPEC_FILE", "STUDY_FILE", "TENSORBOARD_DIR",
           "TEST_METRICS_FILE", "TRIALS_CSV_FILE", "TUNE_DIR", "hold_lock", "is_sweep_dir",
           "publish_ledger", "read_spec", "running_pid", "space_of", "trial_key", "trial_store",
           "write_spec"]

log = logging.getLogger("tuning")


SPEC_FILE = "sweep.yaml"
STUDY_FILE = "study.db"
TRIALS_CSV_FILE = "trials.csv"
BEST_CONFIG_FILE = "best_config.yaml"
FINAL_CONFIG_FILE = "final_config.yaml"  # the best trial's refit (cross-validated sweeps)
ENSEMBLE_CONFIG_FILE = "ensemble.yaml"  # the space's ensemble: N members (tuning.ensemble_export)
CONFIRMATION_FILE = "confirmation.json"
CONFIRMATION_CSV_FILE = "confirmation.csv"
LOG_FILE = "sweep.log"
LOCK_FILE = "sweep.lock"  # "<pid> <host>" while a driver runs the sweep
TUNE_DIR = "tune"
REPORT_DIR = "report"  # default output folder of tuning.report
TENSORBOARD_DIR = "tensorboard"  # every epoch of every trial, one folder per trial
RECOVERED_DIR = "recovered"  # <trial>.jsonl: epochs recovered from checkpoints on a resume
# Inside a trial directory (written by Ray Tune and tuning.execution._trainable):
RESULT_FILE = "result.json"  # one JSON line per tune.report
PARAMS_FILE = "params.json"  # the trial's config as Tune started it
CHECKPOINT_FILE = "checkpoint.pt"  # in each checkpoint_<n>/ folder
# Next to a confirmation run's last checkpoint: its test metrics ({"test_accuracy": ...}), so
# that a resume finds them when a killed driver lost the result line that carried them.
TEST_METRICS_FILE = "test_metrics.json"

# What the sweep copies next to its trials when they live in an object store.
LEDGER = (SPEC_FILE, STUDY_FILE, TRIALS_CSV_FILE, BEST_CONFIG_FILE, FINAL_CONFIG_FILE,
          ENSEMBLE_CONFIG_FILE, CONFIRMATION_FILE, CONFIRMATION_CSV_FILE, LOG_FILE)


def trial_key(number: int) -> str:
    """Stable name of a trial across resumes: its Optuna number, e.g. ``t0007``.

    Example:
        >>> trial_key(7)
        't0007'
    """
    return f"t{number:04d}"


def is_sweep_dir(exp_dir: Path) -> bool:
    """Whether ``exp_dir`` holds a sweep (its frozen spec exists)."""
    return (Path(exp_dir) / SPEC_FILE).is_file()


def read_spec(exp_dir: Path) -> dict:
    """The frozen spec of the sweep in ``exp_dir`` (``sweep.yaml``) as a dict.

    Raises:
        ConfigError: the file is missing or not YAML (names the file).
    """
    return load_yaml(Path(exp_dir) / SPEC_FILE)


def write_spec(exp_dir: Path, spec: dict) -> None:
    """Freezes ``spec`` into ``exp_dir/sweep.yaml`` (atomically; written once per sweep)."""
    atomic_write_text(Path(exp_dir) / SPEC_FILE, yaml.safe_dump(spec, sort_keys=False))


def space_of(spec: dict, source: str) -> SearchSpace:
    """The search space a spec froze, validated again; ``source`` names it in errors. The
    sweep directory is self-contained: the base config is the spec's own resolved copy, so the
    files the sweep started from may have moved or gone; its task (after ``--set``) decides the
    metrics the space may select on."""
    return parse_space(spec["space"], source, Path(spec["space_file"]).parent, frozen=True,
                       task_type=(spec.get("base") or {}).get("task", {}).get("type"))


_STORES: dict[Path, TrialStore] = {}


def trial_store(exp_dir: Path) -> TrialStore:
    """Where the sweep in ``exp_dir`` keeps its trials: ``exp_dir/tune``, or the URI its spec
    names (``--storage-path`` was a URI)."""
    exp_dir = Path(exp_dir)
    if not is_sweep_dir(exp_dir):
        return TrialStore(exp_dir / TUNE_DIR)
    if exp_dir not in _STORES:  # the spec is frozen once written
        uri = read_spec(exp_dir).get("trial_storage")
        _STORES[exp_dir] = TrialStore(uri or exp_dir / TUNE_DIR)
    return _STORES[exp_dir]


def running_pid(exp_dir: Path) -> int | None:
    """The pid of a live driver of this sweep on this host, or None (a stale lock is ignored)."""
    try:
        pid_text, host = (Path(exp_dir) / LOCK_FILE).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if host != socket.gethostname() or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


@contextmanager
def hold_lock(exp_dir: Path) -> Iterator[None]:
    """Marks this process as the sweep's driver while the block runs (``running_pid`` then
    names it to other processes); the lock is removed however the block ends."""
    lock = Path(exp_dir) / LOCK_FILE
    atomic_write_text(lock, f"{os.getpid()} {socket.gethostname()}\n")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def publish_ledger(exp_dir: Path) -> None:
    """With a URI store, copies the ledger (``LEDGER``) next to the trials; the local copy stays
    the one a resume, the report and export read. Logs, never raises, when the copy fails."""
    store = trial_store(exp_dir)
    if not store.remote:
        return
    files = [exp_dir / f for f in LEDGER if (exp_dir / f).is_file()]
    try:
        store.upload(files)
    except OSError as exc:
        log.warning("could not copy the ledger to %s: %s", store.root, exc)
        return
    log.info("ledger copied next to the trials: %s", ", ".join(f.name for f in files))
