"""One Tune run of the trials: the glue of Tune, Optuna and ``core.loop.fit``.

``run_trials`` (``_tuner``) starts Ray and runs the trials of ``train_trial`` (``_trainable``) with
the ``StudySearcher`` that keeps the study truthful (``_searcher``); ``reconcile`` (``_resume``)
matches an interrupted sweep's study with the disk first. Worker processes (``_workers``), the
progress line (``_progress``), the start-up's times (``_startup``), Tune's TensorBoard logger
(``_tune_loggers``) and the test faults (``_fault_injection``) complete it.

The names are imported on first use: the driver reads its options and reconciles the study
before Ray starts, and Ray Tune and the trainable's imports (torchmetrics) wait until then
(``run_trials`` imports them after ``ray.init``; docs/performance.md, "Start-up of a sweep").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuning.execution._fault_injection import (
        HOLD_S,
        LUCKY_BONUS,
        faults_for,
        inject,
        lucky,
        poisoned,
    )
    from tuning.execution._progress import Progress, format_duration
    from tuning.execution._resume import Continuing, reconcile, spec_changes
    from tuning.execution._searcher import StudySearcher, TrialErrors
    from tuning.execution._startup import StartupClock, process_started_at
    from tuning.execution._trainable import (
        INVALID_CONFIG,
        NO_SPACE,
        NON_FINITE,
        OUT_OF_MEMORY,
        SharedData,
        checkpoint_due,
        failure_result,
        report_due,
        train_trial,
    )
    from tuning.execution._tune_loggers import ReportedEpochsTBX
    from tuning.execution._tuner import RayOptions, ray_init_kwargs, run_trials
    from tuning.execution._workers import (
        TUNE_TRIAL_ENV,
        WORKER_PRELOAD,
        MPSDaemon,
        share_idle_workers,
        worker_preload,
    )

# Each name's home module.
_HOMES = {
    **dict.fromkeys(("HOLD_S", "LUCKY_BONUS", "faults_for", "inject", "lucky", "poisoned"),
                    "_fault_injection"),
    **dict.fromkeys(("Progress", "format_duration"), "_progress"),
    **dict.fromkeys(("Continuing", "reconcile", "spec_changes"), "_resume"),
    **dict.fromkeys(("StudySearcher", "TrialErrors"), "_searcher"),
    **dict.fromkeys(("StartupClock", "process_started_at"), "_startup"),
    **dict.fromkeys(("INVALID_CONFIG", "NO_SPACE", "NON_FINITE", "OUT_OF_MEMORY", "SharedData",
                     "checkpoint_due", "failure_result", "report_due", "train_trial"),
                    "_trainable"),
    "ReportedEpochsTBX": "_tune_loggers",
    **dict.fromkeys(("RayOptions", "ray_init_kwargs", "run_trials"), "_tuner"),
    **dict.fromkeys(("TUNE_TRIAL_ENV", "WORKER_PRELOAD", "MPSDaemon", "share_idle_workers",
                     "worker_preload"), "_workers"),
}

__all__ = ["Continuing", "HOLD_S", "INVALID_CONFIG", "LUCKY_BONUS", "MPSDaemon", "NON_FINITE",
           "NO_SPACE", "OUT_OF_MEMORY", "Progress", "RayOptions", "ReportedEpochsTBX",
           "SharedData", "StartupClock", "StudySearcher", "TUNE_TRIAL_ENV", "TrialErrors",
           "WORKER_PRELOAD", "checkpoint_due", "failure_result", "faults_for", "format_duration",
           "inject", "lucky", "poisoned", "process_started_at", "ray_init_kwargs", "reconcile",
           "report_due", "run_trials", "share_idle_workers", "spec_changes", "train_trial",
           "worker_preload"]


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"tuning.execution.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'tuning.execution' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
