"""The GPU benchmarks' CPU-runnable parts: the cold-start table (the trial-start breakdown of
benchmarks/sweep_gpu.py: test_trial_start.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
