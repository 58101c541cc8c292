"""The training loop and everything it needs; never imports Ray or Optuna.

The Python API: ``run_training`` (one run in this process, ``core.run``) and
``resume_training``; ``python -m core.train`` is the command line over them.

The names are imported on first use, so that ``import core.config`` (the sweep's driver and
report read configs) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.errors import RunError
    from core.run import TrainingResult, resume_training, run_training
    from core.run_inputs import ArrayData

__all__ = ["ArrayData", "RunError", "TrainingResult", "resume_training", "run_training"]

# Each name's home module.
_HOMES = {"ArrayData": "core.run_inputs", "RunError": "core.errors",
          "TrainingResult": "core.run", "resume_training": "core.run", "run_training": "core.run"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'core' has no attribute {name!r}")
