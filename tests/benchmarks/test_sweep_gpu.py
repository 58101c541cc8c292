"""The GPU benchmarks' CPU-runnable parts: the trial-start breakdown and the cold-start table."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.sweep_gpu import start_row

ROOT = Path(__file__).resolve().parents[2]


def _first_row(suggested, worker, entered, fit, setup, launch, worker_trials):
    return [{"suggested_at": suggested, "worker_started_at": worker, "entered_at": entered,
             "worker_imported_at": worker + 2.0,
             "fit_entered_at": fit, "setup_s": setup, "launch_to_first_step_s": launch,
             "worker_trials": worker_trials}]


def test_start_row_splits_first_trials_on_a_worker_from_later_ones():
    trials = [_first_row(100.0, 100.5, 104.5, 105.0, 2.0, 7.0, 1),   # new process for it
              _first_row(100.0, 90.0, 101.5, 102.0, 1.0, 3.0, 1),    # idle preloaded worker
              _first_row(200.0, 100.5, 200.02, 200.03, 0.02, 0.05, 2),  # reused worker
              _first_row(300.0, 99.5, 300.1, 300.2, 0.1, 0.4, 3)]    # reused worker
    cells = [c.strip() for c in start_row("x", trials).strip("|").split("|")]
    # trials; later: median, max, to entry; first trials (idle); first: median, max, worker
    # imported, to entry; config; setup
    assert cells[1:] == ["4", "0.23", "0.40", "0.06", "2 (1)", "5.00", "7.00", "-2.75", "3.00",
                         "0.50", "1.50"]


@pytest.mark.slow
def test_cold_start_table_on_cpu():
    out = subprocess.run([sys.executable, "benchmarks/cold_start.py", "--smoke", "--procs", "1,2"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| 1 ") or
            line.startswith("| 2 ")]
    assert len(rows) == 2
    for row in rows:
        cells = [float(c) for c in row.strip("|").split("|")[2:]]
        # every part took some time, and the whole is at least its imports
        assert all(c >= 0 for c in cells) and cells[-1] >= cells[1] + cells[2] > 0
