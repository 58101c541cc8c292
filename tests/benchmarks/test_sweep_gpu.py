"""The GPU benchmarks' CPU-runnable parts: the trial-start breakdown and the cold-start table."""

import subprocess
import sys
from pathlib import Path

from benchmarks.sweep_gpu import start_row

ROOT = Path(__file__).resolve().parents[2]


def _first_row(suggested, worker, entered, fit, setup, launch):
    return [{"suggested_at": suggested, "worker_started_at": worker, "entered_at": entered,
             "fit_entered_at": fit, "setup_s": setup, "launch_to_first_step_s": launch}]


def test_start_row_splits_new_workers_from_reused_ones():
    trials = [_first_row(100.0, 100.5, 104.5, 105.0, 2.0, 7.0),   # new: started after it
              _first_row(100.0, 99.5, 103.5, 104.0, 3.0, 7.0),    # new: prestarted just before
              _first_row(200.0, 100.5, 200.02, 200.03, 0.02, 0.05),  # reused worker
              _first_row(300.0, 99.5, 300.1, 300.2, 0.1, 0.4)]    # reused worker
    cells = [c.strip() for c in start_row("x", trials).strip("|").split("|")]
    # trials, reused median, max and to entry, new workers, new median, spawn, imports, config,
    # setup
    assert cells[1:] == ["4", "0.23", "0.40", "0.06", "2", "7.00", "0.00", "4.00", "0.50",
                         "2.50"]


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
