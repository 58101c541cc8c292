"""Command-line value types that refuse values which mean nothing.

``argparse`` converts with ``type=int`` or ``type=float`` and then accepts ``-1`` retries, ``0``
epochs or ``nan`` seconds. These types raise ``argparse.ArgumentTypeError`` instead, so the
parser exits with status 2 and a message naming the flag::

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
import math
from collections.abc import Callable

__all__ = ["int_at_least", "int_list", "port", "positive_seconds"]


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


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0 (``nan``, ``inf``, 0 and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, got {text!r}")
    return value


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
