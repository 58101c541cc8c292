"""Compiled bytecode for a command's imports where the environment forbids writing it.

Container images often set ``PYTHONDONTWRITEBYTECODE=1`` and ship no ``.pyc`` files: every new
Python process then compiles torch, Ray and this project from source, at every start (``import
tuning.sweep`` took 4.1 s of CPU without bytecode against 1.6 s with it on a 2-core machine;
docs/performance.md, "Start-up of a sweep"). ``cache_bytecode`` keeps the bytecode in a private
cache (``PYTHONPYCACHEPREFIX``, under ``$XDG_CACHE_HOME/seqtune``), never next to the sources,
for this process (``sys.pycache_prefix``, read at each import) and for the processes it starts,
which inherit the environment (a sweep's Ray workers among them). The command-line entry points
call it before their other imports; the Python API leaves the caller's interpreter alone.
Standard library only: it runs before anything else is imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

__all__ = ["cache_bytecode"]

_chosen: str | None = None  # the folder this process chose (os.environ), for a later call


def cache_bytecode(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Lets this process and its children cache bytecode when ``environ`` forbids it.

    Returns the cache folder (also when this process chose it in an earlier call), or None where
    nothing changed: bytecode allowed, a prefix already chosen (``PYTHONPYCACHEPREFIX``), or a
    folder that cannot be made. ``environ`` other than
    ``os.environ`` (tests) changes only that mapping, not this interpreter.
    """
    global _chosen
    if environ is os.environ and _chosen and environ.get("PYTHONPYCACHEPREFIX") == _chosen:
        return _chosen  # chosen earlier in this process (the command's start)
    if not environ.get("PYTHONDONTWRITEBYTECODE") or environ.get("PYTHONPYCACHEPREFIX"):
        return None
    cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqtune" / "pycache"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    environ["PYTHONDONTWRITEBYTECODE"] = ""  # Python reads an empty value as unset
    environ["PYTHONPYCACHEPREFIX"] = str(cache)
    if environ is os.environ:
        sys.pycache_prefix = str(cache)
        sys.dont_write_bytecode = False
        _chosen = str(cache)
    return str(cache)
