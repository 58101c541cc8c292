"""core.bytecode: a command caches its bytecode where the environment forbids writing it."""

import os
import subprocess
import sys
from pathlib import Path

from core.bytecode import cache_bytecode

ROOT = Path(__file__).resolve().parents[2]


def test_the_cache_is_chosen_only_where_bytecode_is_forbidden(tmp_path):
    # Allowed, or a prefix already chosen by the user: nothing changes.
    for env in ({}, {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": "/x"}):
        before = dict(env)
        assert cache_bytecode(env) is None and env == before
    env = {"PYTHONDONTWRITEBYTECODE": "1", "XDG_CACHE_HOME": str(tmp_path)}
    cache = cache_bytecode(env)
    assert cache == str(tmp_path / "seqtune" / "pycache") and Path(cache).is_dir()
    # the processes it starts inherit it; without interpreter=True this one is left alone
    assert env["PYTHONDONTWRITEBYTECODE"] == "" and env["PYTHONPYCACHEPREFIX"] == cache
    assert sys.pycache_prefix != cache


def test_a_command_compiles_its_own_imports_into_the_cache(tmp_path):
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "XDG_CACHE_HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONPYCACHEPREFIX", None)
    for command in (["core.train", "--help"], ["core.predict", "--help"]):
        proc = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    cache = tmp_path / "seqtune" / "pycache"
    # what core.train imports after its start (core.run, torch), not only the standard library
    assert list(cache.rglob("core/run.cpython-*.pyc"))
    assert list(cache.rglob("torch/__init__.cpython-*.pyc"))
    assert list(cache.rglob("core/prediction_table.cpython-*.pyc"))  # core.predict's
