"""What every command-line entry point shares: exit codes, the error line, logging set-up, and
value types for flags.

Used by ``core.train`` and by tuning's commands (sweep, export, report). Bad user input is one line
on stderr, ``error: <file or flag>: <message>``, and exit code 2, without a traceback.

``argparse`` converts with ``type=int`` or ``type=float`` and then accepts ``-1`` retries, ``0``
epochs or ``nan`` seconds. The value types below (``int_at_least``, ``positive_seconds``,
``non_negative_seconds``, ``port``, ``int_list``, ``name_list``) raise
``argparse.ArgumentTypeError`` instead, so the parser exits with status 2 and a message naming the
flag::

    error: argument --max-failures: expected an integer >= 0, got '-1'

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--epochs", type=int_at_least(1))
    >>> p.parse_args(["--epochs", "3"]).epochs
    3
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_RESOURCE", "EXIT_TRAINING", "EXIT_USAGE", "fail",
           "python_command",
           "int_at_least", "int_list", "name_list", "non_negative_seconds", "port",
           "positive_seconds", "setup_logging"]

EXIT_OK = 0  # finished
EXIT_USAGE = 2  # bad input (a config, a flag, a directory): nothing was written or lost
EXIT_TRAINING = 3  # training itself failed (e.g. a non-finite loss)
EXIT_RESOURCE = 4  # memory or disk ran out (or the disk is read-only): free it, then resume
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGINT: resume it


def fail(message: str, code: int = EXIT_USAGE) -> int:
    """Prints ``error: <message>`` to stderr and returns ``code`` (for ``return fail(...)``)."""
    print(f"error: {message}", file=sys.stderr)
    return code


def setup_logging(name: str, log_file: Path | None = None, quiet: bool = False, *,
                  thin_epochs: bool = False) -> logging.Logger:
    """Configures logger ``name`` (e.g. "core", "tuning") for a command: "HH:MM:SS message"
    lines on stderr (warnings only when ``quiet``) and, with ``log_file``, every INFO line in
    that file too. Epoch lines (``core.console.epoch_extra``) end on stderr with the best epoch
    and the time left; ``thin_epochs``: a long run's are thinned there (``core.console``; the
    file keeps every one). Replaces the logger's earlier handlers; nothing reaches the root
    logger."""
    from core.console import EpochConsole

    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        if isinstance(old, EpochConsole):
            old.show_held()  # an epoch line held back by the previous run's console
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    stream = EpochConsole(sys.stderr, verbose=not thin_epochs)
    stream.setLevel(logging.WARNING if quiet else logging.INFO)
    handlers: list[logging.Handler] = [stream]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    return logger



def int_at_least(low: int) -> Callable[[str], int]:
    """An integer ``>= low`` (retries: 0, epochs and counts: 1)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {low}"  # argparse names the type in its own messages
    return parse


def _seconds(text: str, zero_ok: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and (value >= 0 if zero_ok else value > 0)):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds "
                                         f"{'>=' if zero_ok else '>'} 0, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0 (``nan``, ``inf``, 0 and negatives are refused)."""
    return _seconds(text, zero_ok=False)


def non_negative_seconds(text: str) -> float:
    """A finite number of seconds >= 0 (a margin such as a benchmark's slack)."""
    return _seconds(text, zero_ok=True)


def port(text: str) -> int:
    """A TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return value


def int_list(low: int) -> Callable[[str], list[int]]:
    """A comma-separated list of integers, each ``>= low`` (``1,2,4,8``)."""
    item = int_at_least(low)

    def parse(text: str) -> list[int]:
        parts = [p.strip() for p in text.split(",")]
        if not all(parts):
            raise argparse.ArgumentTypeError(f"expected integers >= {low} separated by commas, "
                                             f"got {text!r}")
        try:
            return [item(p) for p in parts]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"expected integers >= {low} separated by commas, "
                                             f"got {text!r}") from None

    parse.__name__ = f"list of integers >= {low}"
    return parse


def name_list(choices: Iterable[str]) -> Callable[[str], list[str]]:
    """A comma-separated list of distinct names, each one of ``choices`` (``a,d``; ``off,on``),
    in the order given.

    Example:
        >>> parse = name_list(["a", "c", "d"])
        >>> parse("d,a")
        ['d', 'a']
        >>> parse("a,x,,a")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: expected distinct names from a, c, d separated by commas, \
got 'a,x,,a' (unknown: 'x'; an empty name; repeated: 'a')
    """
    allowed = tuple(choices)

    def parse(text: str) -> list[str]:
        parts = [p.strip() for p in text.split(",")]
        unknown = list(dict.fromkeys(repr(p) for p in parts if p and p not in allowed))
        repeated = list(dict.fromkeys(repr(p) for p in parts if p and parts.count(p) > 1))
        why = [f"unknown: {', '.join(unknown)}"] if unknown else []
        why += ["an empty name"] if "" in parts else []
        why += [f"repeated: {', '.join(repeated)}"] if repeated else []
        if why:
            raise argparse.ArgumentTypeError(f"expected distinct names from {', '.join(allowed)} "
                                             f"separated by commas, got {text!r} "
                                             f"({'; '.join(why)})")
        return parts

    parse.__name__ = f"list of {', '.join(allowed)}"
    return parse


def python_command(environ=None) -> str:
    """The interpreter of a command this program tells the user to paste: ``python`` when that
    is the one on the PATH, else this interpreter's path (``make sweep`` runs ``.venv/bin/python``
    without activating the venv, where a bare ``python`` lacks torch)."""
    import os
    import shlex
    import shutil

    environ = os.environ if environ is None else environ
    on_path = shutil.which("python", path=environ.get("PATH"))
    same = on_path is not None and Path(on_path).resolve() == Path(sys.executable).resolve()
    return "python" if same else shlex.quote(sys.executable)
