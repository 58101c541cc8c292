import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "search_spaces" / "gru.yaml"


def run_sweep(args, env=None, **kw):
    kw.setdefault("cwd", ROOT)
    return subprocess.run([sys.executable, "-m", "tuning.sweep", *args],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, **kw)


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """One smoke sweep (8 trials, 4 epochs, CPU) with two injected faults: t0001 raises once
    after epoch 1, t0002's loss is NaN. Returns (experiment directory, completed process)."""
    root = tmp_path_factory.mktemp("sweeps")
    faults = root / "faults"
    faults.mkdir()
    proc = run_sweep(["--space", str(SPACE), "--smoke", "--storage-path", str(root),
                      "--name", "s"],
                     env={"SEQTUNE_FAULTS": "raise_once:t0001:1,nan:t0002:1",
                          "SEQTUNE_FAULT_DIR": str(faults)})
    return root / "s", proc
