"""Ray's worker processes for a sweep: bytecode cache, preloaded imports, shared GPUs (MPS).

A trial's start is dominated by its worker process: a new process imports torch and Ray, and
compiles them too where the environment forbids bytecode files. For a sweep on a local Ray the
driver therefore (before ``ray.init``) gives the workers a bytecode cache where needed
(``core.bytecode.cache_bytecode``) and has Ray import the trial's modules into its idle workers
(``worker_preload``), and lets Tune's trial actors use those idle workers
(``share_idle_workers``). ``MPSDaemon`` runs CUDA MPS for trials that share a GPU. Measured
start times: docs/performance.md.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["MPSDaemon", "TUNE_TRIAL_ENV", "WORKER_PRELOAD", "share_idle_workers",
           "worker_preload"]

log = logging.getLogger("tuning")


# Modules every trial imports. A local Ray imports them into its idle workers, which it starts
# (one per CPU) as soon as the driver connects: a trial that lands on a new worker then skips
# importing torch and Ray. torch._dynamo is imported by the first optimizer a process builds, the
# largest part of a first trial's setup (docs/performance.md).
WORKER_PRELOAD = ("torch", "torch._dynamo", "ray.tune", "tuning.execution._trainable")


# What Tune gives every trial actor as a runtime environment of its own (ray.tune.execution.
# class_cache.DEFAULT_ENV_VARS); a local Ray's workers inherit it from the driver instead.
TUNE_TRIAL_ENV = {"PL_DISABLE_FORK": "1"}


def worker_preload(environ) -> dict[str, Any]:
    """Ray system config that preloads ``WORKER_PRELOAD`` into a local Ray's idle workers.

    ``environ`` (which the workers inherit at ``ray.init``) gets ``TUNE_TRIAL_ENV``, for
    ``share_idle_workers``, and the project root on ``PYTHONPATH``: idle workers import before
    they know their job, so they find this project only through it."""
    for key, value in TUNE_TRIAL_ENV.items():
        environ.setdefault(key, value)
    root = str(Path(__file__).resolve().parents[2])
    paths = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        environ["PYTHONPATH"] = os.pathsep.join([root, *paths])
    return {"preload_python_modules": list(WORKER_PRELOAD)}


def share_idle_workers() -> bool:
    """Lets Tune's trial actors run on a local Ray's idle (preloaded) workers. False where Tune's
    internals are not what this expects; trials then start new worker processes, as before.

    Tune gives every trial's actor a runtime environment of its own (``TUNE_TRIAL_ENV``, and AWS
    credentials where the driver has them), and Ray never hands an actor with its own runtime
    environment a worker it started idle: every worker's first trial waited for a new process.
    The local workers already inherit those variables (``worker_preload``), so Tune passes none
    (checked by ``tests/tuning/execution/test_workers.py``)."""
    try:
        from ray.tune.execution import class_cache
    except ImportError:
        return False
    defaults = getattr(class_cache, "DEFAULT_ENV_VARS", None)
    if not isinstance(defaults, dict) or not hasattr(class_cache, "ENV_VARS_TO_PROPAGATE") or \
            any(TUNE_TRIAL_ENV.get(k) != v for k, v in defaults.items()):
        return False
    defaults.clear()
    class_cache.ENV_VARS_TO_PROPAGATE = frozenset()  # inherited, not propagated
    return True


class MPSDaemon:
    """CUDA MPS control daemon for the sweep's lifetime, with private pipe and log folders."""

    def __init__(self, root: Path):
        self.root = root
        self.env = {"CUDA_MPS_PIPE_DIRECTORY": str(root / "pipe"),
                    "CUDA_MPS_LOG_DIRECTORY": str(root / "log")}
        self.started = False

    @staticmethod
    def available() -> bool:
        """Whether the MPS control program is installed."""
        return shutil.which("nvidia-cuda-mps-control") is not None

    def start(self) -> bool:
        """Starts the daemon and points this process's (and so Ray's workers') environment at
        it; False (with a warning) when it does not start."""
        for d in self.env.values():
            Path(d).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        proc = subprocess.run(["nvidia-cuda-mps-control", "-d"], env=env, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            log.warning("could not start CUDA MPS: %s", proc.stderr.strip() or proc.returncode)
            return False
        os.environ.update(self.env)  # Ray workers inherit it and connect to this daemon
        self.started = True
        return True

    def stop(self) -> None:
        """Stops the daemon if this object started it."""
        if not self.started:
            return
        subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", text=True,
                       env={**os.environ, **self.env}, capture_output=True)
        self.started = False
