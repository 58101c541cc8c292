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


def cache_bytecode(environ: MutableMapping[str, str] = os.environ, *,
                   interpreter: bool = False) -> str | None:
    """Lets the processes started with ``environ`` cache bytecode when it forbids it, and with
    ``interpreter`` this one too (``sys.pycache_prefix``; the commands' entry points ask for
    it, the Python API does not).

    Returns the cache folder (also when an earlier call chose it), or None where nothing
    changed: bytecode allowed, another prefix chosen (``PYTHONPYCACHEPREFIX``), or a folder
    that cannot be made.
    """
    cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqtune" / "pycache"
    if environ.get("PYTHONPYCACHEPREFIX") == str(cache):
        return str(cache)  # chosen earlier (the command's start)
    if not environ.get("PYTHONDONTWRITEBYTECODE") or environ.get("PYTHONPYCACHEPREFIX"):
        return None
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    environ["PYTHONDONTWRITEBYTECODE"] = ""  # Python reads an empty value as unset
    environ["PYTHONPYCACHEPREFIX"] = str(cache)
    if interpreter:
        sys.pycache_prefix = str(cache)
        sys.dont_write_bytecode = False
    return str(cache)
