"""Expensive runs that many tests only read (the smoke sweep, the confirmation sweep): each runs
once per test session, in the background from the session's start, and is shared by every
pytest-xdist worker (`make test` runs the tests in several processes).

A module registers a run with ``register(name, command)`` (``command(folder)`` gives the
command line and the environment to add; ``folder`` is the run's own empty directory); a fixture
named ``name`` returns ``result(tmp_path_factory, name)``. The session's autouse fixture
(tests/conftest.py) starts the registered runs its tests use, so that a sweep, which spends most
of its time waiting on Ray and its workers, runs beside the first tests instead of in front of
its own. The first process to ask starts a run (a file lock in the workers' common temporary
folder); every process then waits for its ``<name>.json``, which this module's ``main`` (the
background process) writes when the command has ended. The folder is shared: a test that
writes into it works on a copy.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 900  # one run: a generous bound against a hang, not a speed check

Command = Callable[[Path], tuple[list[str], dict[str, str]]]
_REGISTERED: dict[str, Command] = {}
_STARTED: dict[str, subprocess.Popen] = {}  # the runs this process started


def register(name: str, command: Command) -> None:
    """Registers the shared run ``name`` (the name of the fixture that returns it)."""
    _REGISTERED[name] = command


def registered() -> set[str]:
    return set(_REGISTERED)


def _root(tmp_path_factory) -> Path:
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # .../pytest-N/popen-gw0 -> .../pytest-N: one per session
    return root


def start(tmp_path_factory, name: str) -> None:
    """Starts the run ``name`` in the background unless a process of this session has."""
    root = _root(tmp_path_factory)
    folder, started = root / f"shared-{name}", root / f"shared-{name}.pid"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if started.exists():
            return
        folder.mkdir()
        args, env = _REGISTERED[name](folder)
        spec = {"args": args, "env": env, "out": str(root / f"shared-{name}.json")}
        proc = subprocess.Popen([sys.executable, "-m", "tests.shared_runs", json.dumps(spec)],
                                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        _STARTED[name] = proc
        started.write_text(str(proc.pid))


def _alive(name: str, pid: int) -> bool:
    if name in _STARTED:
        return _STARTED[name].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def result(tmp_path_factory, name: str) -> tuple[Path, subprocess.CompletedProcess]:
    """The run ``name``: (its folder, its completed process), once it has ended (started here
    if no process has started it)."""
    start(tmp_path_factory, name)
    root = _root(tmp_path_factory)
    out, pid = root / f"shared-{name}.json", int((root / f"shared-{name}.pid").read_text())
    deadline = time.monotonic() + TIMEOUT_S + 60
    while not out.exists():
        if not _alive(name, pid) and not out.exists():
            raise RuntimeError(f"the shared run {name} ended without a result")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the shared run {name} did not end in {TIMEOUT_S} s")
        time.sleep(0.2)
    done = json.loads(out.read_text())
    return root / f"shared-{name}", subprocess.CompletedProcess(
        done["args"], done["returncode"], done["stdout"], done["stderr"])


def main(spec_text: str) -> None:
    """The background process: runs the command, then writes its result (atomically)."""
    spec = json.loads(spec_text)
    try:
        proc = subprocess.run(spec["args"], cwd=ROOT, env={**os.environ, **spec["env"]},
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        done = {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
    except subprocess.TimeoutExpired as exc:
        text = [s.decode(errors="replace") if isinstance(s, bytes) else s or ""
                for s in (exc.stdout, exc.stderr)]
        done = {"returncode": -9, "stdout": text[0],
                "stderr": f"{text[1]}\ntimed out after {TIMEOUT_S} s"}
    out = Path(spec["out"])
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"args": spec["args"], **done}))
    tmp.replace(out)


if __name__ == "__main__":
    main(sys.argv[1])
