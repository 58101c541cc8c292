"""One run of a sweep's trials on Ray Tune: Ray's start, trial resources, ASHA, the Tuner.

``run_trials`` is called by the driver (``tuning.driver``) with the study already reconciled; it
starts (or joins) Ray, runs ``to_run`` trials (continuing ones first) into ``<trials>/run-<k>``,
and shuts Ray down again. The study, not Tune's experiment state, is what a resume reads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from core.bytecode import cache_bytecode
from core.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_RESOURCE, fail
from core.data import DataSplits
from tuning.execution._resume import Continuing
from tuning.execution._startup import StartupClock
from tuning.execution._workers import (
    MPSDaemon,
    share_idle_workers,
    worker_preload,
)
from tuning.record import LOG_FILE, trial_key, trial_store
from tuning.space import SearchSpace, compile_space

__all__ = ["RayOptions", "ray_init_kwargs", "run_trials"]

log = logging.getLogger("tuning")


def _not_tune_restore_hint(record: logging.LogRecord) -> bool:
    """Drops Tune's "Resume experiment with: Tuner.restore(...)" after Ctrl-C: the sweep is
    resumed with ``--resume`` (the driver prints that command), never with Tuner.restore, which
    would bypass the study."""
    return "Resume experiment with:" not in record.getMessage()



@contextlib.contextmanager
def _ray_tables_to(log_file: Path | None):
    """Tune prints its trial tables on stdout (hundreds of lines of borders in a smoke sweep),
    Ray its own warnings and the workers' output on stderr and through the "ray" logger: all of
    it goes to ``log_file`` (the sweep's log) instead, while the console keeps the sweep's own
    lines (the "tuning" logger holds the real stderr: ``tuning.execution._progress``). None: left
    where Ray puts it (``--verbose``)."""
    if log_file is None:
        yield
        return
    ray_log = logging.getLogger("ray")
    handlers = ray_log.handlers[:]
    with open(log_file, "a", buffering=1) as f, contextlib.redirect_stdout(f), \
            contextlib.redirect_stderr(f):
        to_file = logging.StreamHandler(f)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s",
                                               "%H:%M:%S"))
        ray_log.handlers[:] = [to_file]
        try:
            yield
        finally:
            ray_log.handlers[:] = handlers


def _out_of_space_stopper(stopper_type, searcher):
    """A Tune stopper (a ``tune.Stopper``; ``stopper_type`` since Ray is imported late) that ends
    the whole run once a trial reported a full disk (``StudySearcher.out_of_space``)."""

    class OutOfSpace(stopper_type):
        def __call__(self, trial_id: str, result: dict) -> bool:
            return False

        def stop_all(self) -> bool:
            return searcher.out_of_space is not None

    return OutOfSpace()


@dataclass(frozen=True)
class RayOptions:
    """How the sweep uses Ray (the sweep's command-line flags of the same names)."""

    address: str | None = None  # a Ray cluster to join ("auto": a running one); None: local
    mps: str = "auto"  # auto | on | off: CUDA MPS for trials that share a GPU
    dashboard: bool = False  # start Ray's dashboard on 127.0.0.1
    dashboard_port: int = 8265
    time_budget: float | None = None  # seconds of Tune time; then running trials are closed
    smoke: bool = False  # a local Ray uses every CPU (at least 2) for the tiny CPU sweep
    verbose: bool = False  # Ray's trial tables on the console too, not only in sweep.log


def ray_init_kwargs(opts: RayOptions) -> dict[str, Any]:
    """``ray.init``'s arguments for ``opts``: a local instance of its own (``--address`` joins a
    cluster), the dashboard on 127.0.0.1 if asked, every CPU for ``--smoke``, and for a local
    instance the workers' preloaded imports and bytecode cache (``tuning.execution._workers``)."""
    # Without --address the sweep starts its own Ray instance ("local"), never joining a cluster
    # that happens to run on the machine; --address auto joins one on purpose.
    kwargs: dict[str, Any] = {"address": opts.address or "local",
                              "include_dashboard": opts.dashboard,
                              "logging_level": logging.WARNING}
    if opts.dashboard:
        kwargs.update(dashboard_host="127.0.0.1", dashboard_port=opts.dashboard_port)
    if opts.smoke:
        kwargs["num_cpus"] = max(2, os.cpu_count() or 2) if opts.address is None else None
    if opts.address is None:
        pycache = cache_bytecode(os.environ)  # the command chose it at its start, if it ran one
        if pycache:
            log.info("PYTHONDONTWRITEBYTECODE is set: this command and its Ray workers keep their "
                     "bytecode in %s instead (a new process then starts in a third of the time)",
                     pycache)
        kwargs["_system_config"] = worker_preload(os.environ)
    return {k: v for k, v in kwargs.items() if v is not None}


def _local_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:
        return 0


def _start_mps(opts: RayOptions, space: SearchSpace, exp_dir: Path) -> MPSDaemon | None | int:
    """The MPS daemon for trials sharing a GPU, None where there is none, or an exit code when
    ``--mps on`` cannot be honoured."""
    k = space.trials_per_gpu
    if k <= 1 or opts.mps == "off" or not _local_gpus() or opts.address is not None:
        return None
    if not MPSDaemon.available():
        if opts.mps == "on":
            return fail("--mps on: nvidia-cuda-mps-control is not available")
        log.info("MPS unavailable: %d trials per GPU will time-slice", k)
        return None
    mps = MPSDaemon(exp_dir / "mps")
    if mps.start():
        log.info("CUDA MPS started for %d trials per GPU", k)
        return mps
    if opts.mps == "on":
        return fail("--mps on: the MPS control daemon could not be started")
    return None


def run_trials(opts: RayOptions, spec: dict, space: SearchSpace, exp_dir: Path,
               study: optuna.Study, continuing: list[Continuing], to_run: int, data: DataSplits,
               on_change: Callable[[], None], *, key_of: Callable[[int], str] = trial_key,
               asha: bool = True, evaluate_test: bool = False,
               close_at_budget: bool = True, startup: StartupClock | None = None) -> int:
    """Runs ``to_run`` trials (``continuing`` first, then new ones the study samples) and
    returns the exit code: ``EXIT_OK``, ``EXIT_INTERRUPTED`` on Ctrl-C, ``EXIT_RESOURCE`` when a
    trial found the disk full (the run stops; running trials stay RUNNING for a resume), or
    ``EXIT_USAGE`` when ``--mps on`` cannot start MPS. ``on_change`` runs (throttled by the
    caller) whenever a trial ends. At a time budget, trials still running are closed in the
    study (PRUNED or FAIL).

    The confirmation phase (``tuning.confirm``) runs its trials through here too: ``key_of``
    names them, ``asha=False`` trains every trial to ``max_epochs`` (a FIFO scheduler), and
    ``evaluate_test`` has each trial evaluate the test split after its last epoch;
    ``close_at_budget=False`` leaves trials unfinished at the time budget RUNNING in the study,
    for a resume to finish (a confirmation run scores its last epoch: a part of one is no
    result).

    ``startup``: the sweep's start-up clock; Ray's start and the Tuner's are marked on it, and
    it logs the start-up line when the first trial's first report arrives."""
    logging.getLogger("ray.tune.tune").addFilter(_not_tune_restore_hint)  # added once
    import ray

    store = trial_store(exp_dir)
    run_index = len(store.runs())
    init_kwargs = ray_init_kwargs(opts)
    mps = _start_mps(opts, space, exp_dir)
    if isinstance(mps, int):
        return mps
    k = space.trials_per_gpu
    quiet = contextlib.ExitStack()
    quiet.enter_context(_ray_tables_to(None if opts.verbose else exp_dir / LOG_FILE))
    try:
        ctx = ray.init(**init_kwargs)
        if startup is not None:
            startup.mark("Ray")
        # Tune and the trainable (torchmetrics) are imported only now, never before ray.init
        # (tuning.execution imports them on first use): Ray starts, and its idle workers import
        # their own copy, seconds sooner (docs/performance.md, "Start-up of a sweep"). Importing
        # them in a thread during ray.init was slower on 2 cores (measured there too).
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

        from tuning.execution._progress import Progress
        from tuning.execution._searcher import StudySearcher, TrialErrors
        from tuning.execution._trainable import SharedData, train_trial
        from tuning.execution._tune_loggers import ReportedEpochsTBX

        if opts.address is None and not share_idle_workers():
            log.info("Tune's trial environment is not as expected: trials start new workers "
                     "instead of preloaded idle ones")
        if opts.dashboard:
            log.info("Ray dashboard: http://%s", ctx.dashboard_url)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = resources.get("CPU", 1)
        if gpus:
            per_trial = {"cpu": space.cpus_per_trial, "gpu": 1.0 / k}
            concurrency = gpus * k
        else:
            per_trial = {"cpu": space.cpus_per_trial}
            concurrency = max(1, int(cpus // space.cpus_per_trial))
        log.info("resources: %d GPU(s), %g CPU(s); %s per trial; up to %d trials at once", gpus,
                 cpus, per_trial, concurrency)
        trainable = tune.with_resources(
            tune.with_parameters(train_trial, base=spec["base"], data=SharedData.put(data),
                                 max_epochs=space.max_epochs, metric=space.metric,
                                 cpus_per_trial=space.cpus_per_trial,
                                 checkpoint_interval_s=space.checkpoint_interval_s,
                                 rungs=space.rungs if asha else ()), per_trial)
        searcher = StudySearcher(
            study, compile_space(space.params), metric=space.metric, mode=space.mode,
            max_epochs=space.max_epochs, continuing=continuing, on_change=on_change,
            key_of=key_of, fixed={"evaluate_test": evaluate_test},
            error_reason=(errors := TrialErrors()).reason)
        done_before = sum(t.state.is_finished() and "warm_start_from" not in t.user_attrs
                          for t in study.get_trials(deepcopy=False))
        # The confirmation phase counts its own runs (to_run of them after done_before).
        total = space.num_samples if key_of is trial_key else done_before + to_run
        progress = Progress(total, done_before, metric=space.metric, mode=space.mode,
                            max_epochs=space.max_epochs)
        scheduler = ASHAScheduler(time_attr="epoch", max_t=space.max_epochs,
                                  grace_period=space.grace_period,
                                  reduction_factor=space.reduction_factor) if asha else \
            FIFOScheduler()
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                metric=space.metric, mode=space.mode, search_alg=searcher, scheduler=scheduler,
                num_samples=to_run, max_concurrent_trials=concurrency, reuse_actors=True,
                time_budget_s=opts.time_budget,
                trial_name_creator=lambda t: t.config["trial_key"],
                trial_dirname_creator=lambda t: t.config["trial_key"]),
            run_config=tune.RunConfig(
                name=f"run-{run_index}", storage_path=store.root,
                failure_config=tune.FailureConfig(max_failures=spec["max_failures"]),
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=2, checkpoint_score_attribute=space.metric,
                    checkpoint_score_order=space.mode),
                verbose=1, stop=_out_of_space_stopper(tune.Stopper, searcher),
                callbacks=[errors, progress, ReportedEpochsTBX(),
                           *([startup.tune_callback()] if startup is not None else [])]))
        t0, cpu0 = time.perf_counter(), time.process_time()
        if startup is not None:
            startup.mark("Tuner")
        tuner.fit()
        if startup is not None:
            startup.log()  # no trial reported its times: what is known
        log.info("%s", progress.line())
        took = time.perf_counter() - t0
        # The driver's CPU (all its threads) over Tune's wall time: near 100% means the driver,
        # not the trials, limits the sweep.
        log.info("tune run-%d took %.1f s; driver CPU %.0f%%", run_index, took,
                 100 * (time.process_time() - cpu0) / max(took, 1e-9))
        if searcher.out_of_space is not None:
            # Running trials stay RUNNING, as after Ctrl-C: a resume continues them.
            log.error("the sweep stopped: a trial could not write (%s); make room on the disk, "
                      "then resume", searcher.out_of_space)
            return EXIT_RESOURCE
        if opts.time_budget is not None and close_at_budget:
            closed = searcher.close_unfinished("time budget")
            if closed:
                log.info("time budget of %g s reached: %d unfinished trial(s) closed",
                         opts.time_budget, closed)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        ray.shutdown()
        quiet.close()
        if mps is not None:
            mps.stop()
    return EXIT_OK
