"""Every exception type of ``core`` (the data package's ``DataError``: ``core.data.errors``).

The modules that raise them re-export them under their old names (``core.schema.ConfigError``,
``core.checkpoint.CheckpointError``, ``core.run_dir.RunError``, ``core.losses.LossSetupError``,
``core.tracking.TrackingError``, ``core.predict.PredictError``).
Each survives ``copy`` and a pickle round trip: Ray carries a trial's exception to the driver by
pickling it (tests/test_exceptions.py).
"""

from __future__ import annotations

import errno

__all__ = ["CheckpointError", "ConfigError", "LossSetupError", "NonFiniteLossError",
           "PredictError", "ResourceError", "RunError", "TrackingError", "TrainingError",
           "is_out_of_memory", "is_out_of_space"]


class ConfigError(ValueError):
    """Invalid configuration: every problem, each with the file and the dotted key."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {key}: {msg}" if key else f"{source}: {msg}" for key, msg in problems]
        super().__init__("\n".join(lines))

    def __reduce__(self):
        # Ray carries a trial's exception to the driver by pickling it, and copy.copy rebuilds
        # it the same way: both call the class with these arguments, not with the message.
        return type(self), (self.source, self.problems)


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated, corrupted or not ours; names the file."""


class RunError(ValueError):
    """A run directory that cannot be used: not empty for a new run, not writable, not a run
    directory, or already finished for a resume. Nothing was written."""


class LossSetupError(ValueError):
    """The task's loss options do not fit the data (names the config key at fault)."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")

    def __reduce__(self):  # copy and pickle (Ray carries it to the driver) pass both arguments
        return type(self), (self.key, self.message)


class TrainingError(RuntimeError):
    """Training cannot go on (bad device, non-finite loss, incompatible resume state)."""


class NonFiniteLossError(TrainingError):
    """The training loss became NaN or inf."""


class TrackingError(RuntimeError):
    """The tracking server could not be reached, timed out or refused a write. Training goes
    on; the entries not logged are sent the next time the record is logged."""


class PredictError(ValueError):
    """The run directory, the data file or the output cannot be used (core.predict); the
    message names it."""


class ResourceError(TrainingError):
    """A resource ran out during a run: memory, or room on the disk (full, over quota or
    read-only), or a checkpoint the run needs was lost to it. The message says what to change or
    free; the run directory keeps everything written before (``--resume`` continues it)."""


# Out of space, over quota, read-only: a write that no retry of the same run can fix until a
# person makes room (or remounts).
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def is_out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is an ``OSError`` of a full or
    read-only disk (ENOSPC, EDQUOT, EROFS)."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure: ``torch.OutOfMemoryError`` (CUDA, MPS), the CPU
    allocator's ``RuntimeError`` ("DefaultCPUAllocator: can't allocate ..."), or ``MemoryError``."""
    if isinstance(exc, MemoryError):
        return True
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text
                                              or "DefaultCPUAllocator: can't allocate" in text
                                              or "out of memory" in text.lower())
