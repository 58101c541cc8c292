"""Why a training run cannot go on: the errors of ``core.loop.fit`` and its set-up.

Kept apart from the loop because the device, the loss and the step raise them too.
"""

from __future__ import annotations

__all__ = ["TrainingError", "NonFiniteLossError"]


class TrainingError(RuntimeError):
    """Training cannot go on (bad device, non-finite loss, incompatible resume state)."""


class NonFiniteLossError(TrainingError):
    """The training loss became NaN or inf."""
