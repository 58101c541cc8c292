"""A run's ``summary.json``, the one file each method's run leaves for the analysis.

Every method writes it last, atomically (``core.files``): whole or absent, so the analysis reads
it as the run's end.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from benchmarks.compare.tasks import Setup
from core.files import atomic_write_text

__all__ = ["LAUNCHED_ENV", "SUMMARY_FILE", "write_json", "write_summary"]

SUMMARY_FILE = "summary.json"
LAUNCHED_ENV = "COMPARE_LAUNCHED"  # when the orchestration launched the run (seconds since epoch)


def write_json(path: Path, obj) -> None:
    """``obj`` as JSON at ``path``, atomically."""
    atomic_write_text(path, json.dumps(obj))


def write_summary(out: Path, trials: list[dict], st: Setup, extra: dict | None = None) -> None:
    """The run's summary: launch and end times, task, metric and direction, and per trial its
    first training step, report times, scores and params (``extra``: the method's own facts)."""
    summary = {"max_epochs": st.max_epochs, "launched": float(os.environ[LAUNCHED_ENV]),
               "ended": time.time(), "task": st.name, "metric": st.task.metric, "mode": st.mode,
               "trials": trials, **(extra or {})}
    write_json(out / SUMMARY_FILE, summary)
