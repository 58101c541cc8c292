"""A training run in-process: ``run_training(config, data=..., model=...)`` -> ``TrainingResult``.

The Python API of ``python -m core.train`` (which is a thin command line over it). A run trains
``core.loop.fit`` and writes a run directory (its files: ``core.run_dir``): the config snapshot,
the environment, the log, metrics.csv, checkpoints/last.pt and best.pt, and summary.json.

Data come from the config's ``data`` section, or from arrays (``ArrayData`` or a mapping with
the same keys), or as ready ``DataSplits``; then the snapshot's ``data`` section does not
describe them, and a resume needs the same ``data`` again. A model is the config's
``model.name``, or a callable ``model(num_features, num_outputs, **model.kwargs) -> nn.Module``;
a callable that is not importable by name must be given again to resume (``core.run_inputs``).

Everything that can be checked (config, data, model, device, loss options, the run directory)
is checked before anything is written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from core.checkpoint import load_checkpoint
from core.config import Config, ConfigError, config_from_dict, config_to_dict, load_yaml
from core.console import EpochConsole
from core.data import DataSplits
from core.files import atomic_write_text
from core.plan import plan_steps
from core.run_dir import (
    OOF_FILE,
    SNAPSHOT_FILE,
    RunError,
    check_new_run_dir,
    check_writable,
    default_run_dir,
    finished_reason,
    metric_columns,
    metrics_csv,
    open_tensorboard,
    write_oof,
    write_summary,
)
from core.run_inputs import ArrayData, resolve_config, resolve_data

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn

# TrainingResult, run_training and resume_training live here; ArrayData (core.run_inputs),
# RunError, metric_columns and metrics_csv (core.run_dir) are re-exported for code that imports
# them from core.run.
__all__ = ["ArrayData", "RunError", "TrainingResult", "metric_columns", "metrics_csv",
           "resume_training", "run_training"]

log = logging.getLogger("core")

@dataclass(frozen=True)
class TrainingResult:
    """What a finished run returns (``summary.json`` and ``metrics.csv`` hold the same)."""

    run_dir: Path  # the run directory
    status: str  # "completed" or "early_stopping"
    metric: str  # training.checkpoint_metric, e.g. "val_accuracy"
    best_epoch: int  # 1-based epoch of checkpoints/best.pt (0 if no epoch ran)
    best_metric: float | None  # ``metric`` at ``best_epoch``
    test: dict[str, float] | None  # best.pt on the test split, "test_<metric>" keys; None
    #                                without a test split
    history: list[dict[str, Any]]  # one dict per epoch: the metrics.csv columns and more

    def history_frame(self) -> pd.DataFrame:
        """``history`` as a pandas DataFrame, one row per epoch."""
        import pandas as pd

        return pd.DataFrame(self.history)


def run_training(config: Config | Mapping | str | Path, *,
                 data: ArrayData | Mapping | DataSplits | None = None,
                 model: Callable[..., nn.Module] | None = None,
                 run_dir: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                 quiet: bool = False, verbose: bool = False, progress: bool = False,
                 source: str | None = None) -> TrainingResult:
    """Trains one model in this process and writes its run directory.

    Args:
        config: a ``Config``, a mapping of config sections, or a YAML file.
        data: arrays (``ArrayData``, or a mapping with its keys ``x``, ``y`` and optionally
            ``lengths``, ``split``, ...) split by the config's ``data`` section, or ready
            ``DataSplits``; None reads the config's ``data`` section.
        model: a callable ``(num_features, num_outputs, **model.kwargs) -> nn.Module`` whose
            module maps ``x`` [B, T, F] and ``lengths`` [B] (or None) to [B, num_outputs];
            None builds ``model.name``.
        run_dir: the run directory, new or empty (default ``runs/train/<name>-<timestamp>``).
        overrides: ``KEY=VALUE`` strings applied to the config (``--set``).
        quiet: log warnings only on stderr (the log file still gets every line).
        verbose: every epoch's line on stderr. Otherwise a run of more than 30 epochs shows
            about 20 of them there, and its new best epochs at most every few seconds, each
            line ending with the best epoch and the time left (``core.console``); train.log
            always holds every epoch.
        progress: a progress bar per epoch on stderr.
        source: what errors call the config (default: its file, or ``<Config>``, ``<dict>``).

    Returns:
        The run's ``TrainingResult``.

    Raises:
        ConfigError: the config or the model is invalid (source and dotted key named).
        DataError: the data do not fit the config (key and data file named).
        RunError: ``run_dir`` is not empty or cannot be written.
        TrainingError: the device is unavailable, a loss option does not fit the data, or the
            loss became non-finite (``NonFiniteLossError``; summary.json then says "failed").
        ResourceError: memory or disk ran out during the run (out of memory; ENOSPC, EDQUOT,
            EROFS), or best.pt was lost to it: summary.json (when it can be written) and
            train.log say "failed" and why.
        KeyboardInterrupt: interrupted; ``resume_training(run_dir)`` continues the run.
    """
    cfg, default_source = resolve_config(config, list(overrides), model)
    source = source or default_source
    run_dir = default_run_dir(cfg.experiment.name) if run_dir is None else Path(run_dir)
    check_new_run_dir(run_dir)
    return _train(cfg, source, data, run_dir, None, quiet, verbose, progress)


def resume_training(run_dir: str | Path, *, data: ArrayData | Mapping | DataSplits | None = None,
                    model: Callable[..., nn.Module] | None = None, quiet: bool = False,
                    verbose: bool = False, progress: bool = False) -> TrainingResult:
    """Continues a stopped run from ``run_dir/checkpoints/last.pt`` with its saved config; it
    ends as the uninterrupted run would have, bit for bit on the same machine.

    Args:
        run_dir: the run directory of ``run_training`` or ``python -m core.train``.
        data, model: the same as the run was started with, when it was started with them.
        quiet, verbose, progress: as ``run_training``.

    Raises:
        RunError: ``run_dir`` is not a run directory, cannot be written, or the run has
            finished.
        CheckpointError: last.pt is missing or damaged.
        ConfigError, DataError, TrainingError, KeyboardInterrupt: as ``run_training``.
    """
    run_dir = Path(run_dir)
    snapshot = run_dir / SNAPSHOT_FILE
    if not snapshot.is_file():
        raise RunError(f"{run_dir}: not a run directory (no {SNAPSHOT_FILE})")
    cfg = config_from_dict(load_yaml(snapshot), str(snapshot))
    if model is not None:
        cfg, _ = resolve_config(cfg, [], model)
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    finished = finished_reason(cfg, state)
    if finished is not None:
        raise RunError(f"{run_dir}: already finished ({finished}); nothing to resume")
    check_writable(run_dir)
    return _train(cfg, str(snapshot), data, run_dir, state, quiet, verbose, progress)


def _best_problem(path: Path, epoch: int) -> str | None:
    """Why ``path`` is not the best checkpoint of ``epoch``, or None when it is."""
    from core.checkpoint import CheckpointError

    try:
        found = load_checkpoint(path)["epoch"]
    except CheckpointError as exc:
        return f"checkpoints/best.pt of epoch {epoch} was lost ({exc})"
    if found != epoch:
        return f"checkpoints/best.pt holds epoch {found}, not the best epoch {epoch}"
    return None


def _resource_error(exc: BaseException, run_dir: Path):
    """A ``ResourceError`` saying what ran out and what to do, for memory or disk failures;
    None for any other exception."""
    from core.errors import ResourceError, is_out_of_memory, is_out_of_space

    if is_out_of_memory(exc):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return ResourceError(f"out of memory ({first}); lower training.batch_size or the "
                             f"model's size (model.hidden_size, model.num_layers), or shorten "
                             f"the sequences")
    if is_out_of_space(exc):
        while not isinstance(exc, OSError):
            exc = exc.__cause__ or exc.__context__
        where = f" {exc.filename}" if exc.filename else ""
        return ResourceError(f"cannot write{where}: {exc.strerror} (errno {exc.errno}); make "
                             f"room, then continue the run: python -m core.train --resume "
                             f"{run_dir}")
    return None


def _setup_logging(run_dir: Path, quiet: bool, verbose: bool) -> logging.FileHandler:
    from core.cli import setup_logging

    setup_logging("core", run_dir / "train.log", quiet, thin_epochs=not verbose)
    return next(h for h in log.handlers if isinstance(h, logging.FileHandler))


def _train(cfg: Config, source: str, data_in, run_dir: Path, resume: dict | None, quiet: bool,
           verbose: bool, progress: bool) -> TrainingResult:
    from core.cv import model_from_state
    from core.device import resolve_device
    from core.env import environment_report
    from core.epochs import PROCESS_TIMINGS
    from core.errors import NonFiniteLossError, ResourceError
    from core.evaluate import evaluate
    from core.loop import fit, task_loss
    from core.models import build_model, check_model
    from core.tasks import decision_threshold

    # Everything that can be checked is checked before the run directory is created.
    device = resolve_device(cfg.experiment.device)
    data = resolve_data(cfg, data_in)
    check_model(cfg.model, data.num_features, data.num_outputs,
                seq_len=int(data.train.x.shape[1]), source=source)
    loss_fn = task_loss(cfg, data)  # class weights that do not fit the data fail here
    # cross-validated: each fold model trains on the train split less its validation fold
    plan = plan_steps(cfg, len(data.train) - max(len(va) for _, va in data.folds)
                      if data.folds else len(data.train))
    errors, warnings = plan.problems()
    if errors:
        raise ConfigError(source, errors)

    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    log_file = _setup_logging(run_dir, quiet, verbose)
    history: list[dict] = [dict(h) for h in resume["history"]] if resume else []
    t0 = time.perf_counter()
    try:
        if resume is None:
            atomic_write_text(run_dir / SNAPSHOT_FILE,
                              yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
        atomic_write_text(run_dir / "environment.txt", environment_report(device))
        log.info("run directory %s", run_dir)
        log.info("%s", data.describe())
        log.info("%s", plan.describe())
        for warning in [*data.extras.get("warnings", []), *warnings]:
            log.warning("warning: %s", warning)
        if history and history[-1]["best_epoch"]:
            lost = _best_problem(ckpt_dir / "best.pt", history[-1]["best_epoch"])
            if lost:
                log.warning("warning: %s; unless a later epoch beats it, this run ends failed, "
                            "without test metrics", lost)
        tb = open_tensorboard(run_dir)

        def reporter(metrics: dict, write_checkpoint) -> None:
            # best.pt before last.pt: a run stopped between the two (a full disk, a kill) resumes
            # from the earlier last.pt and trains this epoch again, so no best epoch is ever
            # behind the resume point without its checkpoint.
            if metrics["best_epoch"] == metrics["epoch"]:
                write_checkpoint(ckpt_dir / "best.pt")
            write_checkpoint(ckpt_dir / "last.pt")
            history.append({k: v for k, v in metrics.items() if k not in PROCESS_TIMINGS})
            atomic_write_text(run_dir / "metrics.csv", metrics_csv(history, cfg.task.type))
            if tb is not None:
                for key in metric_columns(cfg.task.type)[1:-4]:
                    if key in metrics:  # no val_* metrics without a validation split
                        tb.add_scalar(key, metrics[key], metrics["epoch"])
                tb.flush()

        try:
            result = fit(cfg, data, reporter=reporter, resume=resume, progress=progress,
                         device=device)
        except NonFiniteLossError as exc:
            log.error("%s", exc)
            write_summary(run_dir, cfg, history, None, time.perf_counter() - t0, "failed",
                           str(exc))
            raise

        test = None
        best_epoch = history[-1]["best_epoch"] if history else 0
        if best_epoch:
            lost = _best_problem(ckpt_dir / "best.pt", best_epoch)
            if lost:
                raise ResourceError(f"{lost}: the run has no best model and no test metrics; "
                                    f"train it again")
        if len(data.test) == 0:
            log.info("no test split: summary.json has no test metrics")
        elif best_epoch:
            best = load_checkpoint(ckpt_dir / "best.pt")
            # cross-validated: the fold models' mean prediction (core.cv.FoldEnsemble)
            net = model_from_state(best, lambda: build_model(cfg.model, data.num_features,
                                                             data.num_outputs),
                                   cfg.task.type).to(device)
            # binary: f1_best applies the run's decision threshold (task.threshold, else the
            # one chosen on validation at best.pt's epoch, else 0.5), as core.predict's labels
            threshold, _ = decision_threshold(cfg.task.threshold,
                                              best["history"][-1].get("val_threshold"))
            test = evaluate(net, data.test, cfg.training.eval_batch_size, device,
                            result.precision, loss_fn.to(device), top_k=cfg.task.top_k,
                            threshold=threshold, target_mean=data.target_mean,
                            target_std=data.target_std)
            log.info("test (best.pt, epoch %d): %s", best["epoch"],
                     "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
        if data.folds and (ckpt_dir / "best.pt").exists():
            write_oof(run_dir / OOF_FILE, load_checkpoint(ckpt_dir / "best.pt"), data)
        summary = write_summary(run_dir, cfg, history, test, time.perf_counter() - t0,
                                 result.stop_reason, None, has_test=len(data.test) > 0)
        log.info("done: %s", run_dir)
    except Exception as exc:
        error = exc if isinstance(exc, ResourceError) else _resource_error(exc, run_dir)
        if error is None:
            raise
        log.error("error: %s", error)
        try:
            write_summary(run_dir, cfg, history, None, time.perf_counter() - t0, "failed",
                          str(error), has_test=len(data.test) > 0)
        except OSError:
            pass  # the full disk itself: train.log and the error line say it
        raise error from (None if error is exc else exc)
    finally:
        # A notebook runs many runs in one process: each run's log file is closed at its end,
        # and the console shows the last epoch it held back (an interrupted run's).
        log.removeHandler(log_file)
        log_file.close()
        for handler in log.handlers:
            if isinstance(handler, EpochConsole):
                handler.show_held()
    return TrainingResult(run_dir=run_dir, status=summary["status"],
                          metric=summary["checkpoint_metric"], best_epoch=summary["best_epoch"],
                          best_metric=summary["best_metric"], test=summary["test"],
                          history=history)
