"""Standalone training: ``python -m core.train --config configs/gru.yaml``.

A thin command line over ``core.run.run_training`` and ``resume_training`` (the run directory
it writes: ``core.run``).

Exit codes: 0 done, 2 bad config, data or arguments (nothing written), 3 training failed
(non-finite loss), 4 out of memory or disk space (or a read-only disk) during the run; free it
and resume, 130 interrupted (resume with ``--resume RUN_DIR``).
"""

from __future__ import annotations

if __name__ == "__main__":  # a command: its imports below compile once (core.bytecode)
    from core.bytecode import cache_bytecode

    cache_bytecode(interpreter=True)

import argparse
import sys
from pathlib import Path

from core.checkpoint import CheckpointError
from core.cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RESOURCE,
    EXIT_TRAINING,
    EXIT_USAGE,
    fail,
    int_at_least,
)
from core.config import ConfigError, config_from_dict, load_config, override_source
from core.data import DataError, load_data
from core.run import resume_training, run_training
from core.run_dir import SNAPSHOT_FILE, RunError, default_run_dir, metric_columns, metrics_csv
from core.run_tracking import log_run_dir
from core.tracking import TrackingError, check_uri, mlflow_missing

__all__ = ["SMOKE_OVERRIDES", "build_parser", "main", "metric_columns", "metrics_csv",
           "config_from_dict", "load_data"]

# Tiny run for tests and a first look: seconds on a CPU.
SMOKE_OVERRIDES = [
    "experiment.device=cpu", "training.epochs=2", "training.batch_size=32",
    "data.synthetic.num_samples=360", "data.synthetic.seq_len=16", "model.hidden_size=16",
    "training.log_interval=5",
]


EXIT_CODES = """exit codes:
  0    done
  2    bad config, data or arguments, or an unusable --output-dir / --resume (nothing written)
  3    training failed (NaN/inf loss; summary.json says failed)
  4    out of memory or disk space, or a read-only disk, during the run (summary.json and
       train.log say which, when they can be written); free it, then --resume RUN_DIR
  130  interrupted; continue with --resume RUN_DIR"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n")[0],
                                epilog=EXIT_CODES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="YAML config (see configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set training.epochs=3 (repeatable)")
    p.add_argument("--epochs", type=int_at_least(1), help="shorthand for --set training.epochs=N")
    p.add_argument("--output-dir", type=Path,
                   help="run directory (default runs/train/<name>-<timestamp>)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue a stopped run from RUN_DIR/checkpoints/last.pt")
    p.add_argument("--ensemble", type=Path, metavar="FILE",
                   help="train an ensemble file (python -m tuning.export --ensemble N): each "
                        "member into OUTPUT_DIR/member-<i>, then the ensemble's test metrics "
                        "into OUTPUT_DIR/summary.json (needs --output-dir)")
    p.add_argument("--smoke", action="store_true", help="tiny CPU run for tests (seconds)")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="log warnings only")
    shown.add_argument("--verbose", action="store_true",
                       help="every epoch's line on the console (a run of more than 30 epochs "
                            "shows about 20 and its new bests; train.log has every epoch)")
    p.add_argument("--mlflow", metavar="URI",
                   help="log the run to MLflow when it stops: an http(s):// server, a sqlite:/// "
                        "file or a local folder (params, every epoch, summary.json; "
                        "docs/tracking.md)")
    p.add_argument("--mlflow-checkpoints", action="store_true",
                   help="with --mlflow, upload the checkpoints/ folder too")
    return p


def main(argv: list[str] | None = None) -> int:
    """Runs the command; returns its exit code (0, 2, 3, 4 or 130)."""
    args = build_parser().parse_args(argv)
    if args.mlflow is not None:
        problem = mlflow_missing() or check_uri(args.mlflow)
        if problem:
            return fail(f"--mlflow: {problem}")
    elif args.mlflow_checkpoints:
        return fail("--mlflow-checkpoints: needs --mlflow URI")
    if args.ensemble is not None:
        return _train_ensemble(args)
    code = _train(args)
    if args.mlflow is not None and code != EXIT_USAGE:
        _track(args, code)
    return code


def _track(args: argparse.Namespace, code: int) -> None:
    """Logs the run directory to MLflow (``core.run_tracking.log_run_dir``); a server that fails
    costs a warning, never the run (run the same command's ``--resume`` later, or log again)."""
    run_dir = args.resume if args.resume is not None else args.output_dir
    if run_dir is None or not (run_dir / SNAPSHOT_FILE).is_file():
        return
    try:
        run_id = log_run_dir(args.mlflow, run_dir, checkpoints=args.mlflow_checkpoints,
                             interrupted=code == EXIT_INTERRUPTED)
    except TrackingError as exc:
        print(f"warning: {exc}; the run is complete on disk ({run_dir})", file=sys.stderr)
        return
    print(f"MLflow: run {run_id} at {args.mlflow}", file=sys.stderr)


def _train_ensemble(args: argparse.Namespace) -> int:
    """``--ensemble FILE``: trains its members and scores the ensemble (``core.ensemble_run``)."""
    from core.ensemble_run import run_ensemble
    from core.errors import NonFiniteLossError, TrainingError

    if args.output_dir is None:
        return fail("--ensemble: needs --output-dir DIR (its members train into DIR/member-<i>)")
    if args.config or args.overrides or args.epochs is not None or args.smoke or args.resume \
            or args.mlflow:
        return fail("--ensemble trains the configs of its file; it takes no --config, --set, "
                    "--epochs, --smoke, --resume or --mlflow")
    try:
        summary = run_ensemble(args.ensemble, args.output_dir, quiet=args.quiet,
                               verbose=args.verbose)
    except (ConfigError, RunError, CheckpointError) as exc:
        return fail(str(exc))
    except DataError as exc:
        return fail(f"{args.ensemble}: {exc.key}: {exc.message}")
    except NonFiniteLossError as exc:
        return fail(str(exc), EXIT_TRAINING)
    except TrainingError as exc:
        return fail(f"{args.ensemble}: {exc}", EXIT_USAGE)
    if summary["test"]:
        print("ensemble test: " + "  ".join(f"{k} {v:.4f}" for k, v in summary["test"].items()))
    return EXIT_OK


def _train(args: argparse.Namespace) -> int:
    """Trains (or resumes) the run ``args`` describe; the exit code."""
    from core.errors import NonFiniteLossError, ResourceError, TrainingError

    progress = sys.stderr.isatty() and not args.quiet
    if args.resume is not None:
        if args.config or args.overrides or args.epochs is not None or args.smoke:
            return fail("--resume continues a run with its saved config; it takes no --config, "
                        "--set, --epochs or --smoke")
        source, run_dir = str(args.resume / SNAPSHOT_FILE), args.resume
    else:
        if args.config is None and not args.smoke:
            return fail("--config is required (or --resume RUN_DIR, or --smoke)")
        source = str(args.config) if args.config else "<smoke>"
        run_dir = args.output_dir
    try:
        if args.resume is not None:
            resume_training(args.resume, quiet=args.quiet, verbose=args.verbose,
                            progress=progress)
        else:
            overrides = (SMOKE_OVERRIDES if args.smoke else []) + list(args.overrides)
            if args.epochs is not None:
                overrides.append(f"training.epochs={args.epochs}")
            cfg = load_config(args.config, overrides)
            if run_dir is None:
                run_dir = args.output_dir = default_run_dir(cfg.experiment.name)
            run_training(cfg, run_dir=run_dir, quiet=args.quiet, verbose=args.verbose,
                         progress=progress, source=source)
    except (ConfigError, DataError) as exc:
        # Checks after loading (the data, the steps) name the config file; a key that --set
        # gave is marked so, as load_config marks its own.
        if isinstance(exc, DataError):
            exc = ConfigError(source, [(exc.key, exc.message)])
        if exc.source == source:
            exc = ConfigError(override_source(source, exc.problems, args.overrides),
                              exc.problems)
        return fail(str(exc))
    except RunError as exc:
        return fail(f"{'--resume' if args.resume is not None else '--output-dir'}: {exc}")
    except CheckpointError as exc:
        return fail(str(exc))
    except NonFiniteLossError as exc:
        return fail(str(exc), EXIT_TRAINING)
    except ResourceError as exc:
        return fail(str(exc), EXIT_RESOURCE)
    except TrainingError as exc:
        return fail(f"{source}: {exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: python -m core.train --resume {run_dir}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
