"""The sweep: ``python -m tuning.sweep --space search_spaces/gru.yaml``.

Ray Tune runs the trials (ASHA stops the weak ones early), an Optuna study chooses their
hyperparameters (TPE by default) and is the sweep's ledger. Everything lands in an experiment
directory, ``runs/sweeps/<name>/`` (its files: ``tuning.record._directory``). ``--resume DIR``
continues an interrupted sweep, reconciling the study with the disk (``tuning.execution._resume``).

Exit codes: 0 finished, 2 bad input (nothing written), 3 every trial failed, 4 the disk is
full or read-only (make room, then resume it), 130 interrupted (resume it).

This module is the command line: its flags (``build_parser``), the flags a resume refuses, and
``main``, which turns the flags into ``SweepOptions`` (``tuning.driver._options``) and runs the
driver (``tuning.driver.drive``; bad input raises there and exits 2 here). ``tuning.run_sweep``
is the Python API over the same driver. ``SweepOptions``, ``drive``, ``new_spec`` and
``check_params_fit_config`` stay importable from here.
"""

from __future__ import annotations

if __name__ == "__main__":  # a command: its imports below compile once (core.bytecode)
    from core.bytecode import cache_bytecode

    cache_bytecode(interpreter=True)

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from core.cli import EXIT_RESOURCE, fail, int_at_least, port, positive_seconds
from core.config import ConfigError
from core.errors import is_out_of_space
from tuning.confirm import confirm_arg
from tuning.driver import SweepOptions, check_params_fit_config, drive, new_spec
from tuning.errors import SweepError
from tuning.execution import process_started_at
from tuning.tracking import tracking_problem

__all__ = ["RESUME_REFUSES", "SweepOptions", "build_parser", "check_params_fit_config", "drive",
           "main", "new_spec", "resume_refusals"]


def build_parser() -> argparse.ArgumentParser:
    """The sweep's command line (``python -m tuning.sweep --help``)."""
    p = argparse.ArgumentParser(prog="python -m tuning.sweep", description=__doc__.split("\n")[0])
    p.add_argument("--space", type=Path, help="search-space YAML (see search_spaces/)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the sweep in DIR")
    p.add_argument("--name", help="experiment name (default: <space>-<timestamp>)")
    p.add_argument("--storage-path",
                   help="parent of experiment directories (made absolute; default runs/sweeps), "
                        "or a URI such as s3://bucket/sweeps for the trials' results and "
                        "checkpoints (the study and trials.csv then stay in runs/sweeps/<name> "
                        "and are copied there when the sweep stops)")
    p.add_argument("--num-samples", type=int_at_least(1),
                   help="trials in total (overrides the space); with --resume, extends the "
                        "sweep to this many trials")
    p.add_argument("--max-epochs", type=int_at_least(1),
                   help="epochs of a full trial (overrides the space)")
    p.add_argument("--metric", help="metric the sweep optimises, e.g. val_auroc (overrides the "
                   "space's metric; its direction is known, docs/tasks.md)")
    p.add_argument("--trials-per-gpu", type=int_at_least(1),
                   help="trials sharing one GPU (overrides)")
    p.add_argument("--time-budget", type=positive_seconds, metavar="SECONDS",
                   help="stop the sweep after this much Tune time; trials still running are "
                        "recorded as pruned, and the sweep ends normally")
    p.add_argument("--max-failures", type=int_at_least(0),
                   help="retries of an errored trial, from its last checkpoint (default 2); a "
                        "trial whose config is invalid is never retried")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the base config (repeatable); a key the space "
                        "searches is pinned at this value")
    p.add_argument("--address", help="Ray cluster address ('auto' for a running cluster)")
    p.add_argument("--mps", choices=("auto", "on", "off"), default="auto",
                   help="CUDA MPS for trials sharing a GPU (auto: when trials_per_gpu > 1)")
    p.add_argument("--dashboard", action="store_true",
                   help="start Ray's dashboard on 127.0.0.1 (needs the 'dashboard' extra)")
    p.add_argument("--dashboard-port", type=port, default=8265)
    p.add_argument("--warm-start", type=Path, metavar="DIR",
                   help="seed the study with the finished trials of an earlier sweep")
    p.add_argument("--confirm", type=confirm_arg, metavar="K,S",
                   help="after the search, retrain the K best configurations on S fresh seeds "
                        "each and keep the best mean (overrides the space's confirm; 0: off; "
                        "docs/confirmation.md)")
    p.add_argument("--mlflow", metavar="URI",
                   help="log the sweep to MLflow: an http(s):// server, a sqlite:/// file or a "
                        "local folder (one parent run, a child run per trial, every epoch; "
                        "overrides the space's tracking:; docs/tracking.md)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny CPU sweep for tests: 8 trials of 4 epochs on tiny data")
    p.add_argument("--verbose", action="store_true",
                   help="Ray Tune's trial tables on the console too (they always go to "
                        "sweep.log); the console shows a progress line otherwise")
    p.add_argument("--full-size", action="store_true",
                   help="without a GPU, run the space at its full size rather than its cpu: "
                        "section (the default sweep: about an hour on 2 cores, not 5 minutes)")
    return p


# Flags a resumed sweep cannot honour: its spec (space, budget, base config) is frozen.
RESUME_REFUSES = {"max_epochs": "--max-epochs", "metric": "--metric", "overrides": "--set",
                  "trials_per_gpu": "--trials-per-gpu", "max_failures": "--max-failures",
                  "smoke": "--smoke", "name": "--name", "warm_start": "--warm-start",
                  "storage_path": "--storage-path", "full_size": "--full-size",
                  "confirm": "--confirm"}


def resume_refusals(args: argparse.Namespace) -> list[str]:
    """The flags given with ``--resume`` that it cannot honour (``RESUME_REFUSES``)."""
    return [flag for attr, flag in RESUME_REFUSES.items()
            if getattr(args, attr) not in (None, False, [])]


def main(argv: list[str] | None = None) -> int:
    """Runs the sweep command; returns its exit code (0, 2, 3, 4 or 130)."""
    args = build_parser().parse_args(argv)
    refused = resume_refusals(args) if args.resume is not None else []
    if refused:
        return fail(f"--resume continues a sweep with its frozen spec (space, budget, base "
                    f"config); it cannot honour {', '.join(refused)}. --num-samples extends it; "
                    "--time-budget, --address, --mps, --dashboard and --mlflow apply to this run")
    # The command's start, for the start-up line: this process's, when it runs as the command
    # (python -m tuning.sweep), else this call's.
    started = (process_started_at() if argv is None else None) or time.time()
    opts = dataclasses.replace(SweepOptions.from_args(args), started_at=started)
    problem = tracking_problem(opts.mlflow, None)
    if problem:
        return fail(problem)
    if opts.ray.dashboard and not _dashboard_available():
        return fail("--dashboard needs Ray's dashboard dependencies: "
                    "pip install -e \".[dashboard]\"")
    try:
        code, _ = drive(opts)
    except (ConfigError, SweepError) as exc:
        return fail(str(exc))
    except Exception as exc:
        # The driver's own writes (study.db, trials.csv) on a full disk: SQLite says so in words.
        if not (is_out_of_space(exc) or "database or disk is full" in str(exc)):
            raise
        return fail(f"the sweep could not write ({type(exc).__name__}: {exc}); the disk is full "
                    f"or read-only: make room, then continue it with --resume and the sweep's "
                    f"folder", EXIT_RESOURCE)
    return code


def _dashboard_available() -> bool:
    try:
        import ray.dashboard.optional_deps  # noqa: F401  (what ray[default] adds)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
