"""tuning.execution._workers: preloaded idle workers, Tune's trial environment; the workers' and
the command's bytecode cache (core.bytecode) in a smoke sweep."""

import os
from pathlib import Path

import pytest

from tuning.execution import (
    TUNE_TRIAL_ENV,
    WORKER_PRELOAD,
    share_idle_workers,
    worker_preload,
)

ROOT = Path(__file__).resolve().parents[3]


def test_worker_preload_lets_trials_use_idle_workers():
    # Ray gives an actor with a runtime environment of its own only a new worker process, never
    # an idle (preloaded) one; Tune must therefore give trial actors none, and the workers must
    # inherit what Tune would have given them.
    from ray.tune.execution import class_cache

    env = {"PYTHONPATH": "/elsewhere"}
    config = worker_preload(env)
    assert config == {"preload_python_modules": list(WORKER_PRELOAD)}
    assert env["PL_DISABLE_FORK"] == "1"
    assert env["PYTHONPATH"].split(os.pathsep) == [str(ROOT), "/elsewhere"]
    tune_defaults = dict(class_cache.DEFAULT_ENV_VARS)
    assert tune_defaults.items() <= TUNE_TRIAL_ENV.items()  # empty once shared before
    assert share_idle_workers()

    class Trainable:
        pass

    remote = class_cache._ActorClassCache().get(Trainable)
    assert not remote._default_options["runtime_env"].get("env_vars")


@pytest.mark.slow
def test_workers_write_bytecode_to_the_cache_when_the_driver_may_not(smoke):
    exp, proc = smoke  # ran with PYTHONDONTWRITEBYTECODE=1 and XDG_CACHE_HOME=<root>/cache
    cache = exp.parent / "cache" / "seqtune" / "pycache"
    # The trials' workers compiled this project's trainable (and torch) into the cache.
    assert list(cache.rglob("trainable.cpython-*.pyc"))
    assert list(cache.rglob("torch/__init__.cpython-*.pyc"))
    assert f"this command and its Ray workers keep their bytecode in {cache}" in \
        (exp / "sweep.log").read_text()
    # ... and so did the command itself, before its own imports (core.bytecode)
    assert list(cache.rglob("driver/__init__.cpython-*.pyc"))
