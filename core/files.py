"""Files of runs and sweeps: atomic writes, and the rule for names that become folder names.

Readers see the old file or the new one, never half of one: every write goes to a temporary file
in the same directory, is fsynced and then renamed. This module needs nothing beyond the standard
library, so readers of run and sweep directories (the sweep's report, export) can write files
without importing torch.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_replace", "atomic_write_bytes", "atomic_write_text", "check_name"]

_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    """Writes ``data`` to ``path`` atomically: temp file in the same directory, fsync, rename.

    Parent folders are created. ``durable=False`` skips the fsyncs (still atomic for readers, not
    across a power cut): for files that a caller copies elsewhere at once, such as a trial's
    checkpoint handed to Tune.

    Raises:
        OSError: the folder cannot be created or written; no partial file is left behind.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> atomic_write_bytes(d / "a" / "x.bin", b"abc")
        >>> (d / "a" / "x.bin").read_bytes()
        b'abc'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        _fsync_dir(path.parent)


def atomic_replace(src: str | Path, dst: str | Path, durable: bool = True) -> None:
    """Renames ``src`` over ``dst`` (same folder), then fsyncs the folder unless not
    ``durable``: the last step of a write staged in two parts (``core.checkpoint``)."""
    os.replace(src, dst)
    if durable:
        _fsync_dir(Path(dst).parent)


def check_name(name: str) -> str | None:
    """Why ``name`` cannot name a run or experiment folder, or None when it can: 1-100 letters,
    digits, '.', '_' or '-', not starting with '.' (so never a path, never hidden).

    Example:
        >>> check_name("gru-20260101") is None
        True
        >>> check_name("../x")
        "use 1-100 letters, digits, '.', '_' or '-', not starting with '.'; got '../x'"
    """
    if (0 < len(name) <= 100 and not name.startswith(".") and
            all(c.isalnum() or c in "._-" for c in name)):
        return None
    return f"use 1-100 letters, digits, '.', '_' or '-', not starting with '.'; got {name!r}"


def atomic_write_text(path: str | Path, text: str, durable: bool = True) -> None:
    """``atomic_write_bytes`` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode(), durable)
