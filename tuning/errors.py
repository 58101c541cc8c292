"""The exception types of ``tuning`` that its modules raise to each other and to the commands.

``SweepError`` (bad input other than a config or space; the commands print it and exit 2) and
``StudyWriteError`` (the on-disk study refused a write). ``tuning.api.SweepInterrupted`` stays
with the Python API whose ``Sweep`` it carries. The raising modules re-export them under their
old names (``tuning.record.SweepError``, ``tuning.study.StudyWriteError``).
"""

from __future__ import annotations

__all__ = ["StudyWriteError", "SweepError"]


class SweepError(ValueError):
    """Bad input to a sweep other than a config or space: a directory that is not a sweep, a
    name, a flag, a sweep already running. Nothing was written; the command line prints it and
    exits 2."""


class StudyWriteError(RuntimeError):
    """The on-disk study refused or failed a write that the copy in memory had accepted."""
