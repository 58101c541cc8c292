"""Why a training run cannot go on: the errors of ``core.loop.fit`` and its set-up.

Kept apart from the loop because the device, the loss and the step raise them too.
"""

from __future__ import annotations

import errno

__all__ = ["TrainingError", "NonFiniteLossError", "ResourceError", "is_out_of_memory",
           "is_out_of_space"]


class TrainingError(RuntimeError):
    """Training cannot go on (bad device, non-finite loss, incompatible resume state)."""


class NonFiniteLossError(TrainingError):
    """The training loss became NaN or inf."""


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
