"""Send a sweep's record to MLflow: ``python -m tuning.track DIR --mlflow URI``.

The driver logs a tracked sweep as it runs (``tuning.tracking``); this command sends what a
tracking server missed (it was down, or the sweep was not tracked) through the same code path:
one parent run for the sweep, one child run per trial and confirmation run, every epoch, the
states, the sweep's files. Runs already there are continued, never duplicated, so it can be
run any number of times.

Exit codes: 0 sent, 1 the server failed (nothing lost: run it again), 2 bad input.
"""

from __future__ import annotations

if __name__ == "__main__":  # a command: its imports below compile once (core.bytecode)
    from core.bytecode import cache_bytecode

    cache_bytecode(interpreter=True)

import argparse
import logging
import sys
from pathlib import Path

from core.cli import EXIT_OK, fail, setup_logging
from core.tracking import Tracker, TrackingError
from tuning.confirm import confirm_key
from tuning.record import SPEC_FILE, is_sweep_dir, read_spec, running_pid, space_of, trial_key
from tuning.study import load_confirm_study, load_study
from tuning.tracking import SweepRuns, remember_target, tracking_problem, tracking_target

__all__ = ["EXIT_TRACKER", "main", "sweep_status"]

EXIT_TRACKER = 1  # the tracking server failed; the sweep's files are untouched

log = logging.getLogger("tuning")


def sweep_status(trials: list, num_samples: int) -> str:
    """The parent run's status for a sweep's own trials (Optuna ``FrozenTrial``s): FAILED when
    every one failed, FINISHED when ``num_samples`` are finished, else KILLED (interrupted)."""
    if trials and all(t.state.name == "FAIL" for t in trials):
        return "FAILED"
    finished = sum(t.state.is_finished() for t in trials)
    return "FINISHED" if finished >= num_samples and finished == len(trials) else "KILLED"


def main(argv: list[str] | None = None) -> int:
    """``python -m tuning.track``; returns the exit code (0, 1 or 2)."""
    p = argparse.ArgumentParser(prog="python -m tuning.track", description=__doc__.split("\n")[0])
    p.add_argument("sweep", type=Path, help="experiment directory of the sweep")
    p.add_argument("--mlflow", metavar="URI",
                   help="tracking URI: an http(s):// server, a sqlite:/// file or a local folder "
                        "(default: where the sweep was tracked)")
    p.add_argument("--experiment", help="MLflow experiment (default: the sweep's, else the "
                                        "space file's name)")
    args = p.parse_args(argv)
    exp_dir = args.sweep.expanduser().resolve()
    if not is_sweep_dir(exp_dir):
        return fail(f"{args.sweep}: not a sweep directory (no {SPEC_FILE})")
    spec = read_spec(exp_dir)
    space = space_of(spec, str(exp_dir / SPEC_FILE))
    problem = tracking_problem(args.mlflow, space)
    if problem:
        return fail(problem)
    holder = running_pid(exp_dir)
    if holder is not None:
        return fail(f"{exp_dir}: the sweep is running (driver pid {holder}) and logs itself; "
                    "run this after it stops")
    target = tracking_target(exp_dir, space, spec, args.mlflow)
    if target is None:
        return fail(f"--mlflow: required ({exp_dir.name} was not tracked)")
    uri, experiment = target[0], args.experiment or target[1]
    try:
        study = load_study(exp_dir)
        confirm = load_confirm_study(exp_dir)
    except ValueError as exc:
        return fail(str(exc))
    setup_logging("tuning")
    phases = [(study, trial_key, "search")]
    if confirm is not None:
        phases.append((confirm, confirm_key, "confirm"))
    own = [t for t in study.get_trials(deepcopy=False) if "warm_start_from" not in t.user_attrs]
    runs = SweepRuns(Tracker(uri, experiment), exp_dir, spec, space)
    try:
        logged = runs.sync(phases, driver_running=False,
                           final=sweep_status(own, space.num_samples))
    except TrackingError as exc:
        return fail(f"{exc}; the sweep's files are untouched: run this again", EXIT_TRACKER)
    remember_target(exp_dir, uri, experiment)
    log.info("MLflow: %s logged to %s, experiment %s: %d trial run(s), %d new epoch(s)",
             exp_dir.name, uri, experiment, len(own), logged)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
