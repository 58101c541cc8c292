import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import shared_runs
from tuning.study import load_study

ROOT = Path(__file__).resolve().parents[2]
SPACE = ROOT / "search_spaces" / "gru.yaml"


def sweep_command(args) -> list[str]:
    return [sys.executable, "-m", "tuning.sweep", *map(str, args)]


def run_sweep(args, env=None, **kw):
    kw.setdefault("cwd", ROOT)
    return subprocess.run(sweep_command(args), capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, **kw)


def _smoke_command(root: Path):
    faults = root / "faults"
    faults.mkdir()
    env = {"SEQTUNE_FAULTS": "raise_once:t0001:1,nan:t0002:1", "SEQTUNE_FAULT_DIR": str(faults),
           "PYTHONDONTWRITEBYTECODE": "1", "XDG_CACHE_HOME": str(root / "cache")}
    if "PYTHONPYCACHEPREFIX" in os.environ:
        env["PYTHONPYCACHEPREFIX"] = ""  # the sweep chooses the prefix itself
    return sweep_command(["--space", SPACE, "--smoke", "--storage-path", root, "--name", "s"]), env


shared_runs.register("smoke", _smoke_command)


@pytest.fixture(scope="session")
def smoke(tmp_path_factory):
    """One smoke sweep (8 trials, 4 epochs, CPU) with two injected faults: t0001 raises once
    after epoch 1, t0002's loss is NaN. It runs as in a container image that forbids bytecode
    files (PYTHONDONTWRITEBYTECODE=1, XDG_CACHE_HOME=<root>/cache). Returns (experiment
    directory, completed process). It runs once per test session, from its start, and is shared
    (tests/shared_runs.py): a test that writes into its directory takes ``smoke_copy``."""
    root, proc = shared_runs.result(tmp_path_factory, "smoke")
    return root / "s", proc


@pytest.fixture
def smoke_copy(smoke, tmp_path):
    """The smoke sweep copied to ``tmp_path / "s"``, for a test that writes into the sweep's
    directory (the shared one stays as the sweep left it). Returns (directory, process)."""
    exp, proc = smoke
    return Path(shutil.copytree(exp, tmp_path / "s", symlinks=True)), proc


def held(fault_dir: Path, *keys: str) -> dict:
    """The environment that holds the trials ``keys`` after their first epoch, once
    (``tuning.execution._fault_injection``'s ``hold_once`` fault): a sweep whose last trials are
    held cannot end before ``kill_when`` kills it, however fast or loaded the machine (issue 16 §7);
    the resumed sweep runs them on."""
    fault_dir.mkdir(parents=True, exist_ok=True)
    return {"SEQTUNE_FAULTS": ",".join(f"hold_once:{k}:1" for k in keys),
            "SEQTUNE_FAULT_DIR": str(fault_dir)}


def kill_when(exp, proc, ready) -> None:
    """SIGKILLs the process group of the sweep driver ``proc`` once ``ready(trials)`` holds for
    the study in ``exp`` (polled every 0.5 s, at most 300 s), or when the driver ends."""
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if (exp / "study.db").exists():
                try:
                    trials = load_study(exp).get_trials()
                except Exception:
                    continue
                if ready(trials):
                    break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
