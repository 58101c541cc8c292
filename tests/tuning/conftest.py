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
    after epoch 1, t0002's loss is NaN. It runs as in a container image that forbids bytecode
    files (PYTHONDONTWRITEBYTECODE=1, XDG_CACHE_HOME=<root>/cache). Returns (experiment
    directory, completed process)."""
    root = tmp_path_factory.mktemp("sweeps")
    faults = root / "faults"
    faults.mkdir()
    env = {"SEQTUNE_FAULTS": "raise_once:t0001:1,nan:t0002:1", "SEQTUNE_FAULT_DIR": str(faults),
           "PYTHONDONTWRITEBYTECODE": "1", "XDG_CACHE_HOME": str(root / "cache")}
    if "PYTHONPYCACHEPREFIX" in os.environ:
        env["PYTHONPYCACHEPREFIX"] = ""  # the sweep chooses the prefix itself
    proc = run_sweep(["--space", str(SPACE), "--smoke", "--storage-path", str(root),
                      "--name", "s"], env=env)
    return root / "s", proc
