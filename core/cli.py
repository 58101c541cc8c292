"""What every command-line entry point shares: exit codes, the error line, logging set-up.

Used by ``core.train`` and by tuning's commands (sweep, export, report). Bad user input is one line
on stderr, ``error: <file or flag>: <message>``, and exit code 2, without a traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TRAINING", "EXIT_USAGE", "fail", "setup_logging"]

EXIT_OK = 0  # finished
EXIT_USAGE = 2  # bad input (a config, a flag, a directory): nothing was written or lost
EXIT_TRAINING = 3  # training itself failed (e.g. a non-finite loss)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGINT: resume it


def fail(message: str, code: int = EXIT_USAGE) -> int:
    """Prints ``error: <message>`` to stderr and returns ``code`` (for ``return fail(...)``)."""
    print(f"error: {message}", file=sys.stderr)
    return code


def setup_logging(name: str, log_file: Path | None = None, quiet: bool = False) -> logging.Logger:
    """Configures logger ``name`` (e.g. "core", "tuning") for a command: "HH:MM:SS message"
    lines on stderr (warnings only when ``quiet``) and, with ``log_file``, every INFO line in
    that file too. Replaces the logger's earlier handlers; nothing reaches the root logger."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(logging.WARNING if quiet else logging.INFO)
    handlers: list[logging.Handler] = [stream]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    return logger
