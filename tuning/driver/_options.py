"""The sweep's options, typed: one field per flag of ``python -m tuning.sweep``.

``SweepOptions.from_args`` reads them from the parsed command line (``tuning.sweep``);
``tuning.run_sweep`` builds them from its keyword arguments. The driver (``tuning.driver``)
takes nothing else.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from tuning.execution import RayOptions

__all__ = ["SweepOptions"]


@dataclass(frozen=True)
class SweepOptions:
    """The sweep's command-line options, typed (one field per flag of
    ``tuning.sweep.build_parser``)."""

    space: Path | None = None  # search-space YAML; required unless resuming
    resume: Path | None = None  # experiment directory to continue
    name: str | None = None  # experiment name; default <space stem>-<timestamp>
    storage_path: str = "runs/sweeps"  # parent of experiment directories, or a URI for trials
    num_samples: int | None = None  # overrides the space's
    max_epochs: int | None = None  # overrides the space's
    metric: str | None = None  # overrides the space's metric; the mode follows the metric
    trials_per_gpu: int | None = None  # overrides the space's resources.trials_per_gpu
    max_failures: int = 2  # retries of an errored trial
    full_size: bool = False  # no GPU: the space's full size, not its cpu: section
    overrides: list[str] = field(default_factory=list)  # KEY=VALUE for the base config
    warm_start: Path | None = None  # earlier sweep whose finished trials seed the study
    smoke: bool = False  # tiny CPU sweep: 8 trials of 4 epochs on tiny data
    confirm: tuple[int, int] | None = None  # (top_k, seeds) overriding the space's; (0, 0): off
    mlflow: str | None = None  # MLflow tracking URI, overriding the space's tracking.mlflow
    ray: RayOptions = RayOptions()
    # When the command started (seconds since the epoch): the origin of the start-up line in
    # sweep.log (tuning.execution._startup); None: when drive() was called.
    started_at: float | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SweepOptions:
        """The options of a parsed ``tuning.sweep.build_parser()`` command line."""
        ray = RayOptions(address=args.address, mps=args.mps, dashboard=args.dashboard,
                         dashboard_port=args.dashboard_port, time_budget=args.time_budget,
                         smoke=args.smoke, verbose=args.verbose)
        return cls(space=args.space, resume=args.resume, name=args.name,
                   storage_path=args.storage_path or "runs/sweeps",
                   num_samples=args.num_samples, max_epochs=args.max_epochs,
                   metric=args.metric, trials_per_gpu=args.trials_per_gpu,
                   full_size=args.full_size,
                   max_failures=2 if args.max_failures is None else args.max_failures,
                   overrides=list(args.overrides),
                   warm_start=args.warm_start, smoke=args.smoke, confirm=args.confirm,
                   mlflow=args.mlflow, ray=ray)
