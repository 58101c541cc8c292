"""The sweep's driver: ``drive(SweepOptions)`` starts or resumes a sweep and runs it to its end.

Ray Tune runs the trials (ASHA stops the weak ones early), an Optuna study chooses their
hyperparameters (TPE by default) and is the sweep's ledger. Everything lands in an experiment
directory, ``runs/sweeps/<name>/`` (its files: ``tuning.record._directory``).

Resume reconciles the study with the disk rather than trusting a snapshot: a trial whose final
epoch is on disk is closed as COMPLETE without running again, an unfinished one continues from
its latest checkpoint under its original trial number, and only the missing trials are newly
sampled, so the sweep ends with exactly ``num_samples`` trials (``tuning.execution._resume``).

The steps: everything is read and checked first (``tuning.driver._setup``); under the sweep's
lock the search runs (``tuning.execution.run_trials``), then the confirmation phase when the space
asks for one (``tuning.driver._confirm_phase``); at the end trials.csv, best_config.yaml and, with
an object store, the ledger's copy are written. ``tuning.sweep`` is the command line over it and
``tuning.run_sweep`` the Python API.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core.cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RESOURCE,
    EXIT_TRAINING,
    python_command,
    setup_logging,
)
from tuning.driver._confirm_phase import confirm_search
from tuning.driver._options import SweepOptions
from tuning.driver._setup import PreparedSweep, create, prepare
from tuning.execution import StartupClock, reconcile, run_trials
from tuning.export import export_best
from tuning.record import (
    BEST_CONFIG_FILE,
    ENSEMBLE_CONFIG_FILE,
    FINAL_CONFIG_FILE,
    LOG_FILE,
    SweepError,
    hold_lock,
    publish_ledger,
    running_pid,
    write_events,
    write_spec,
    write_trials_csv,
)
from tuning.space import SearchSpace
from tuning.study import (
    count_finished,
    most_common_failure,
    open_confirm_study,
    open_study,
    warm_start,
)
from tuning.tracking import open_tracking, tracking_problem

__all__ = ["CSV_REFRESH_S", "drive", "resume_command"]

log = logging.getLogger("tuning")

CSV_REFRESH_S = 5.0  # trials.csv during a sweep; it reads every trial's results, so not per trial


def drive(opts: SweepOptions) -> tuple[int, Path]:
    """Starts or resumes the sweep ``opts`` describe and runs it until it ends.

    Returns:
        The exit code (``EXIT_OK``; ``EXIT_INTERRUPTED`` when interrupted, or when trials are
        still missing without a time budget; ``EXIT_TRAINING`` when every trial failed, the most
        common reason logged; ``EXIT_RESOURCE`` when a trial found the disk full, with the
        resume command on stderr; ``EXIT_USAGE`` when ``mps="on"`` cannot start CUDA MPS, said
        on stderr) and the experiment directory.

    Raises:
        ConfigError: the space, the base config or the data are invalid (file and key named).
        SweepError: a bad directory, name or flag, or the sweep is running elsewhere.
        Nothing is written before these checks pass.
    """
    clock = StartupClock(opts.started_at or time.time())
    clock.mark("imports")
    sweep = prepare(opts)
    holder = running_pid(sweep.exp_dir) if opts.resume is not None else None
    if holder is not None:
        raise SweepError(f"{sweep.exp_dir}: the sweep is running (driver pid {holder}); stop it "
                         "first")
    problem = tracking_problem(opts.mlflow, sweep.space)
    if problem:
        raise SweepError(problem)
    if opts.resume is None:
        create(sweep)
    setup_logging("tuning", sweep.exp_dir / LOG_FILE)
    clock.mark("pre-flight")
    with hold_lock(sweep.exp_dir):
        _log_start(opts, sweep)
        try:
            return _run(opts, sweep, clock), sweep.exp_dir
        except KeyboardInterrupt:
            # A second Ctrl-C, or one outside Tune's own handler: the study and disk are
            # consistent at every point (a resume reconciles them), so stopping here loses no
            # finished work.
            return _interrupted(sweep.exp_dir, None), sweep.exp_dir


def _log_start(opts: SweepOptions, sweep: PreparedSweep) -> None:
    """What the user should know before the trials start: the CPU scaling, the pre-flight, an
    extended sweep's new size (frozen into its spec here, under the lock)."""
    scaled = sweep.spec.get("scaled_for_cpu")
    if scaled and opts.resume is None:
        log.info("no GPU: the space's cpu: section scales this sweep down to finish in minutes "
                 "on a few cores: %s. For the full size: --full-size (or a GPU)",
                 "; ".join(scaled))
    if opts.resume is None:
        for line in sweep.spec.get("smoke_notes") or []:
            log.info("%s", line)
        for line in sweep.spec.get("pinned_by_set") or []:
            log.warning("warning: %s", line)
        if sweep.spec.get("metric_alignment"):
            log.info("metric: %s", sweep.spec["metric_alignment"])
    for level, line in sweep.checks:
        getattr(log, level)("%s%s", "warning: " if level == "warning" else "", line)
    if sweep.extended_from is not None:
        write_spec(sweep.exp_dir, sweep.spec)
        log.info("num_samples: %d -> %d (--num-samples %s the sweep)", sweep.extended_from,
                 sweep.space.num_samples,
                 "extends" if sweep.space.num_samples > sweep.extended_from else "shortens")


def resume_command(exp_dir: Path, environ=None) -> str:
    """The command that resumes the sweep in ``exp_dir``, pasted the way the user started it:
    ``make sweep ARGS="--resume DIR"`` under make (the Makefile sets ``SEQTUNE_VIA_MAKE``), else
    this interpreter (``python`` when that is the one on the PATH) with ``-m tuning.sweep``."""
    import os
    import shlex

    environ = os.environ if environ is None else environ
    where = shlex.quote(str(exp_dir))
    if environ.get("SEQTUNE_VIA_MAKE"):
        return f'make sweep ARGS="--resume {where}"'
    return f"{python_command(environ)} -m tuning.sweep --resume {where}"


def _interrupted(exp_dir: Path, counts: tuple[int, int] | None) -> int:
    """Logs how far an interrupted sweep got, prints the command that resumes it; 130."""
    if counts is not None:
        log.info("sweep interrupted: %d of %d trials finished", *counts)
    print(f"\nresume with: {resume_command(exp_dir)}", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def _run(opts: SweepOptions, sweep: PreparedSweep, clock: StartupClock) -> int:
    """The search, then the confirmation when the space asks for one, then the best config and
    the ledger; the exit code. ``clock``: the start-up's marks (the search logs them)."""
    study, storage = open_study(sweep.exp_dir, sweep.name, sweep.space)
    clock.mark("study")
    # MLflow (tuning.tracking): live syncs while Tune runs, one at each phase's end and the end.
    tracking = open_tracking(sweep.exp_dir, sweep.spec, sweep.space, opts.mlflow)
    if tracking is not None:
        tracking.start(study)
    space, budget = sweep.space, opts.ray.time_budget
    search_opts = opts
    if space.confirm_top_k and budget is not None:
        search_budget = budget * (1 - space.confirm_budget_share)
        log.info("time budget %g s: %g s for the search, the rest (%.0f%%) for confirmation",
                 budget, search_budget, 100 * space.confirm_budget_share)
        search_opts = dataclasses.replace(
            opts, ray=dataclasses.replace(opts.ray, time_budget=search_budget))
    t0 = time.monotonic()
    try:
        code = _search(search_opts, sweep, study, clock)
        if tracking is not None:
            tracking.phase_end(study)
        if code == EXIT_OK and space.confirm_top_k:
            left = None if budget is None else budget - (time.monotonic() - t0)
            refresh = _throttled(lambda: write_trials_csv(study, sweep.exp_dir, space),
                                 CSV_REFRESH_S)
            code = confirm_search(opts.ray, sweep, study, left, refresh)
            if code == EXIT_OK and _unfinished_confirmation(study):
                print(f"\nthe confirmation is unfinished; finish it with: "
                      f"{resume_command(sweep.exp_dir)}", file=sys.stderr, flush=True)
    finally:
        if tracking is not None:
            tracking.stop()
        storage.close()
    if code == EXIT_OK:
        _export(sweep.exp_dir, sweep.space)
    if code in (EXIT_OK, EXIT_TRAINING, EXIT_INTERRUPTED, EXIT_RESOURCE):
        publish_ledger(sweep.exp_dir)
    if tracking is not None:
        tracking.finish(code)  # from the disk: the ledger is complete now
    if code == EXIT_INTERRUPTED:
        return _interrupted(sweep.exp_dir, (count_finished(study), sweep.space.num_samples))
    if code == EXIT_RESOURCE:
        # A full disk stopped the trials (tuning.execution._tuner): what they wrote stays, and a
        # resume continues the trials left RUNNING once there is room.
        print(f"\nmake room on the disk, then resume with: {resume_command(sweep.exp_dir)}",
              file=sys.stderr, flush=True)
    return code


def _unfinished_confirmation(study) -> int:
    """How many of the search's confirmation runs are not finished (left at a time budget)."""
    confirm = open_confirm_study(study)
    return sum(not t.state.is_finished() for t in confirm.get_trials(deepcopy=False))


def _search(opts: SweepOptions, sweep: PreparedSweep, study, clock: StartupClock) -> int:
    """The search phase: runs what the study still needs, then writes trials.csv; the exit
    code."""
    space, exp_dir = sweep.space, sweep.exp_dir
    if opts.warm_start is not None and opts.resume is None:
        added = warm_start(study, sweep.warm)
        log.info("warm start: %d trial(s) from %s (phase 'warm start' in trials.csv; not "
                 "counted among this sweep's trials)", added, opts.warm_start)
        for reason, n in sorted(sweep.warm_skipped.items(), key=lambda kv: -kv[1]):
            log.warning("warm start: %d earlier trial(s) skipped, this space cannot draw them: "
                        "%s", n, reason)
    continuing = reconcile(study, exp_dir, space) if opts.resume is not None else []
    finished = count_finished(study)
    to_run = len(continuing) + max(space.num_samples - finished - len(continuing), 0)
    log.info("sweep %s: %d of %d trials finished, %d to continue, %d to run in all",
             sweep.name, finished, space.num_samples, len(continuing), to_run)
    code = EXIT_OK
    if to_run > 0:
        refresh = _throttled(lambda: write_trials_csv(study, exp_dir, space), CSV_REFRESH_S)
        code = run_trials(opts.ray, sweep.spec, space, exp_dir, study, continuing, to_run,
                          sweep.data, refresh, startup=clock)
    write_events(exp_dir, study)  # after a resume too: epochs recovered from checkpoints
    write_trials_csv(study, exp_dir, space)
    if code == EXIT_OK and count_finished(study) < space.num_samples and \
            opts.ray.time_budget is None:
        code = EXIT_INTERRUPTED
    if code == EXIT_OK:
        code = _all_failed(study)
    return code


def _all_failed(study) -> int:
    """``EXIT_TRAINING`` with the most common reason when the sweep has trials and every one
    failed (nothing to export, nothing learned), else ``EXIT_OK``."""
    own = [t for t in study.get_trials(deepcopy=False) if "warm_start_from" not in t.user_attrs]
    if not own or any(t.state.name != "FAIL" for t in own):
        return EXIT_OK
    reason, n = most_common_failure(own)
    log.error("no trial finished: all %d failed; the most common reason (%d of them): %s",
              len(own), n, reason)
    return EXIT_TRAINING


def _export(exp_dir: Path, space: SearchSpace) -> None:
    """Writes best_config.yaml (``tuning.export``: the confirmed winner after a confirmation)
    and logs the trial, its checkpoint and the command that trains it."""
    best_config = exp_dir / BEST_CONFIG_FILE
    try:
        best = export_best(exp_dir, best_config, allow_partial=True, refit=False, space=space)
    except ValueError as exc:
        log.warning("no best configuration: %s", exc)
        return
    confirmed = best["confirmed"]
    if confirmed is not None:
        # A confirmed run is scored by its last epoch (docs/confirmation.md), so its best epoch
        # would contradict the winner's confirmed mean: name what the file trains.
        log.info("best: the confirmed configuration of %s, trained by its confirmation run %s "
                 "(%s mean %.4f over %d seed(s), last epoch)", confirmed["trial"], best["trial"],
                 space.metric, confirmed["mean"], confirmed["n"])
    else:
        log.info("best trial %s: %s = %.4f at epoch %d", best["trial"], space.metric,
                 best["value"], best["epoch"])
    stale = confirmed is None and best["checkpoint_epoch"] not in ("", best["epoch"])
    log.info("checkpoint: %s%s", best["checkpoint"] or "(none kept)",
             f" (holds epoch {best['checkpoint_epoch']}: the best, epoch {best['epoch']}, fell"
             f" between checkpoints and was not saved; {best_config.name} retrains to it;"
             f" docs/trial-files.md)" if stale else "")
    log.info("config: %s  (train it: %s -m core.train --config %s)", best_config,
             python_command(), best_config)
    if int(best["config"]["data"].get("cv_folds") or 0) >= 2:
        _export_final(exp_dir, space)


def _export_final(exp_dir: Path, space: SearchSpace) -> None:
    """After a cross-validated sweep, the final model's configs (docs/small-data.md): the best
    trial's refit (final_config.yaml) and, with the space's ``ensemble: N``, the ensemble of at
    most N of the best trials (ensemble.yaml). A failure costs a warning: the sweep is done and
    ``python -m tuning.export`` writes them again."""
    from core.config import ConfigError
    from tuning.final import export_ensemble

    final = exp_dir / FINAL_CONFIG_FILE
    try:
        chosen = export_best(exp_dir, final, allow_partial=True, refit=True, space=space)
        threshold = (chosen["config"].get("task") or {}).get("threshold")
        log.info("final model (refit on every non-test sequence for %d epochs%s): %s  (train "
                 "it: %s -m core.train --config %s)", chosen["config"]["training"]["epochs"],
                 "" if threshold is None else f", binary decision threshold {threshold:.4g}",
                 final, python_command(), final)
        if space.settings.ensemble:
            ens = exp_dir / ENSEMBLE_CONFIG_FILE
            made = export_ensemble(exp_dir, ens, space.settings.ensemble, space)
            log.info("ensemble of %d: %s (out-of-fold %s %.4f, best single %.4f%s)  (train "
                     "it: %s -m core.train --ensemble %s --output-dir DIR)",
                     len(made["members"]), ens, space.metric, made["score"],
                     made["best_single"], "" if made["threshold"] is None else
                     f"; binary decision threshold {made['threshold']:.4g}", python_command(),
                     ens)
    except (ValueError, ConfigError) as exc:
        log.warning("no final config: %s", exc)


def _throttled(fn: Callable[[], None], interval_s: float) -> Callable[[], None]:
    """``fn`` at most once per ``interval_s`` seconds (the driver's loop serves every trial; a
    refresh per finished trial, each reading all trials' results, grows with the sweep
    squared). The sweep writes trials.csv once more when Tune returns."""
    last = [float("-inf")]

    def call() -> None:
        now = time.monotonic()
        if now - last[0] >= interval_s:
            last[0] = now
            fn()

    return call
