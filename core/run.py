"""A training run in-process: ``run_training(config, data=..., model=...)`` -> ``TrainingResult``.

The Python API of ``python -m core.train`` (which is a thin command line over it). A run trains
``core.loop.fit`` and writes a run directory::

    config_snapshot.yaml   the fully resolved config, written first, never changed
    environment.txt        python, torch, CUDA, cuDNN, device, installed packages
    train.log              the run's log
    metrics.csv            one row per epoch
    checkpoints/last.pt    full training state after the latest epoch (+ .sha256)
    checkpoints/best.pt    the same, at the best epoch by training.checkpoint_metric
    summary.json           best epoch and metric, test metrics of best.pt (binary: at the
                           threshold chosen on validation), wall time

Data come from the config's ``data`` section, or from arrays (``ArrayData`` or a mapping with
the same keys), or as ready ``DataSplits``; then the snapshot's ``data`` section does not
describe them, and a resume needs the same ``data`` again. A model is the config's
``model.name``, or a callable ``model(num_features, num_outputs, **model.kwargs) -> nn.Module``
(the user-model contract of ``core.models.registry``): a callable that ``module:qualname``
finds again is recorded under that import path (the snapshot then retrains with
``python -m core.train`` wherever the module imports); any other callable (a lambda, a closure)
is registered in this process under ``api_<qualname>`` with ``core.models.register``, and a
resume needs the same ``model`` again.

Everything that can be checked (config, data, model, device, loss options, the run directory)
is checked before anything is written.
"""

from __future__ import annotations

import copy
import csv
import importlib
import io
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from core.checkpoint import atomic_write_text, load_checkpoint
from core.config import (
    Config,
    ConfigError,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    load_yaml,
    parse_override,
)
from core.data import DataError, DataSplits, from_arrays, load_data
from core.plan import plan_steps
from core.tasks import metric_names

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn

__all__ = ["ArrayData", "RunError", "TrainingResult", "metric_columns", "metrics_csv",
           "resume_training", "run_training"]

log = logging.getLogger("core")

SNAPSHOT_FILE = "config_snapshot.yaml"


class RunError(ValueError):
    """A run directory that cannot be used: not empty for a new run, not a run directory, or
    already finished for a resume. Nothing was written."""


@dataclass(frozen=True)
class ArrayData:
    """In-memory data for ``run_training``, split as the config's ``data`` section says
    (``core.data.from_arrays``).

    ``x``: [N, T, F] float features (anything beyond a sequence's length is zeroed).
    ``y``: [N] class labels (multiclass, binary: ints or strings), [N, K] 0/1 (multilabel) or
    [N] / [N, D] floats (regression). ``lengths``: [N] valid steps, or None for all T.
    ``split``: [N] of "train" / "val" / "test" (with ``data.split: given``), ``groups``: [N] ids
    kept together by ``data.split: group``. ``feature_names``: F names; ``label_names``:
    multilabel labels or regression targets.
    """

    x: Any
    y: Any
    lengths: Any = None
    split: Any = None
    groups: Any = None
    feature_names: list[str] | None = None
    label_names: list[str] | None = None


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


def metric_columns(task_type: str) -> list[str]:
    """metrics.csv's columns: the epoch, the losses, the task's validation metrics (binary: and
    the validation F1 threshold), then lr, timings, step and the best epoch so far."""
    val = [f"val_{name}" for name in metric_names(task_type)]
    if task_type == "binary":
        val.append("val_threshold")
    return ["epoch", "train_loss", *val, "lr", "epoch_time_s", "samples_per_s", "global_step",
            "best_epoch", "best_metric"]


def metrics_csv(history: list[dict], task_type: str = "multiclass") -> str:
    """The text of metrics.csv for ``history`` (``metric_columns``; other keys left out)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=metric_columns(task_type), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow(row)
    return buf.getvalue()


def _model_name(model: Callable[..., nn.Module]) -> str:
    """The ``model.name`` that finds ``model`` again (see the module docstring)."""
    module, qualname = getattr(model, "__module__", None), getattr(model, "__qualname__", "")
    if module and module != "__main__" and "<" not in qualname:
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            obj = None
        if obj is model:
            return f"{module}:{qualname}"
    from core.models import register

    name = "api_" + "_".join(re.findall(r"[A-Za-z0-9]+", qualname or type(model).__name__))
    register(name)(model)
    return name


def _config(config: Config | Mapping | str | Path, overrides: list[str],
            model: Callable[..., nn.Module] | None) -> tuple[Config, str]:
    """The validated config and its source name (for error messages)."""
    if isinstance(config, (str, Path)):
        cfg, source = load_config(config, overrides), str(config)
        raw = None
    else:
        source = "<Config>" if isinstance(config, Config) else "<dict>"
        raw = config_to_dict(config) if isinstance(config, Config) else copy.deepcopy(
            dict(config))
        raw = apply_overrides(raw, [parse_override(o) for o in overrides], "overrides")
        cfg = config_from_dict(raw, source)
    if model is not None:
        raw = config_to_dict(cfg)
        raw["model"]["name"] = _model_name(model)
        cfg = config_from_dict(raw, source)
    return cfg, source


def _data(cfg: Config, data: ArrayData | Mapping | DataSplits | None) -> DataSplits:
    """The splits of ``data`` (see ``run_training``); array shapes are checked here, naming the
    array (``data['y']``), because ``from_arrays`` trusts them."""
    if data is None:
        return load_data(cfg.data, cfg.task)
    if isinstance(data, DataSplits):
        return data
    import numpy as np

    if not isinstance(data, ArrayData):
        unknown = sorted(set(data) - set(ArrayData.__dataclass_fields__))
        if unknown or "x" not in data or "y" not in data:
            raise DataError("data", f"expected the keys x, y and optionally lengths, split, "
                                    f"groups, feature_names, label_names; got {sorted(data)}")
        data = ArrayData(**dict(data))
    x = np.asarray(data.x, dtype=np.float32)
    if x.ndim != 3 or 0 in x.shape:
        raise DataError("data['x']", f"expected [N, T, F] with N, T, F >= 1, got shape "
                                     f"{list(x.shape)}")
    n, t = x.shape[:2]
    arrays = {"y": data.y, "lengths": data.lengths, "split": data.split, "groups": data.groups}
    for key, value in arrays.items():
        if value is not None and len(value) != n:
            raise DataError(f"data['{key}']", f"has {len(value)} rows; x has {n} sequences")
    lengths = None if data.lengths is None else np.asarray(data.lengths, dtype=np.int64)
    if lengths is not None and (lengths.ndim != 1 or lengths.min() < 1 or lengths.max() > t):
        raise DataError("data['lengths']", f"expected [N] valid steps in 1..{t} (T)")
    return from_arrays(x, np.asarray(data.y), lengths, cfg.data, data.feature_names,
                       task=cfg.task,
                       split=None if data.split is None else np.asarray(data.split),
                       groups=None if data.groups is None else np.asarray(data.groups),
                       label_names=data.label_names)


def run_training(config: Config | Mapping | str | Path, *,
                 data: ArrayData | Mapping | DataSplits | None = None,
                 model: Callable[..., nn.Module] | None = None,
                 run_dir: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                 quiet: bool = False, progress: bool = False,
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
        quiet: log warnings only (the log file still gets every line).
        progress: a progress bar per epoch on stderr.
        source: what errors call the config (default: its file, or ``<Config>``, ``<dict>``).

    Returns:
        The run's ``TrainingResult``.

    Raises:
        ConfigError: the config or the model is invalid (source and dotted key named).
        DataError: the data do not fit the config (key and data file named).
        RunError: ``run_dir`` is not empty.
        TrainingError: the device is unavailable, a loss option does not fit the data, or the
            loss became non-finite (``NonFiniteLossError``; summary.json then says "failed").
        KeyboardInterrupt: interrupted; ``resume_training(run_dir)`` continues the run.
    """
    cfg, default_source = _config(config, list(overrides), model)
    source = source or default_source
    if run_dir is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = Path("runs") / "train" / f"{cfg.experiment.name}-{stamp}"
    run_dir = Path(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(f"{run_dir} already exists and is not empty; choose another run "
                       f"directory or continue it with --resume {run_dir}")
    return _train(cfg, source, data, run_dir, None, quiet, progress)


def resume_training(run_dir: str | Path, *, data: ArrayData | Mapping | DataSplits | None = None,
                    model: Callable[..., nn.Module] | None = None, quiet: bool = False,
                    progress: bool = False) -> TrainingResult:
    """Continues a stopped run from ``run_dir/checkpoints/last.pt`` with its saved config; it
    ends as the uninterrupted run would have, bit for bit on the same machine.

    Args:
        run_dir: the run directory of ``run_training`` or ``python -m core.train``.
        data, model: the same as the run was started with, when it was started with them.

    Raises:
        RunError: ``run_dir`` is not a run directory, or the run has finished.
        CheckpointError: last.pt is missing or damaged.
        ConfigError, DataError, TrainingError, KeyboardInterrupt: as ``run_training``.
    """
    run_dir = Path(run_dir)
    snapshot = run_dir / SNAPSHOT_FILE
    if not snapshot.is_file():
        raise RunError(f"{run_dir}: not a run directory (no {SNAPSHOT_FILE})")
    cfg = config_from_dict(load_yaml(snapshot), str(snapshot))
    if model is not None:
        cfg, _ = _config(cfg, [], model)
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    finished = finished_reason(cfg, state)
    if finished is not None:
        raise RunError(f"{run_dir}: already finished ({finished}); nothing to resume")
    return _train(cfg, str(snapshot), data, run_dir, state, quiet, progress)


def finished_reason(cfg: Config, state: dict) -> str | None:
    """Why the run whose latest checkpoint is ``state`` has ended, or None if it can go on:
    all ``training.epochs`` done, or early stopping (the checkpoint counts the epochs without
    improvement, so this holds whether or not summary.json was written)."""
    if state["epoch"] >= cfg.training.epochs:
        return f"all {cfg.training.epochs} epochs done"
    es = cfg.training.early_stopping
    if es.patience and state.get("es_bad_epochs", 0) >= es.patience:
        return f"early stopping after epoch {state['epoch']}"
    return None


def _setup_logging(run_dir: Path, quiet: bool) -> logging.FileHandler:
    from core.cli import setup_logging

    setup_logging("core", run_dir / "train.log", quiet)
    return next(h for h in log.handlers if isinstance(h, logging.FileHandler))


def _train(cfg: Config, source: str, data_in, run_dir: Path, resume: dict | None, quiet: bool,
           progress: bool) -> TrainingResult:
    from core.env import environment_report
    from core.loop import NonFiniteLossError, evaluate, fit, resolve_device, task_loss
    from core.models import build_model, check_model

    # Everything that can be checked is checked before the run directory is created.
    device = resolve_device(cfg.experiment.device)
    data = _data(cfg, data_in)
    check_model(cfg.model, data.num_features, data.num_outputs,
                seq_len=int(data.train.x.shape[1]), source=source)
    loss_fn = task_loss(cfg, data)  # class weights that do not fit the data fail here
    plan = plan_steps(cfg, len(data.train))
    errors, warnings = plan.problems()
    if errors:
        raise ConfigError(source, errors)

    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    log_file = _setup_logging(run_dir, quiet)
    try:
        if resume is None:
            atomic_write_text(run_dir / SNAPSHOT_FILE,
                              yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
        atomic_write_text(run_dir / "environment.txt", environment_report(device))
        log.info("run directory %s", run_dir)
        log.info("%s", data.describe())
        log.info("%s", plan.describe())
        for warning in warnings:
            log.warning("warning: %s", warning)
        tb = _tensorboard(run_dir)
        history: list[dict] = [dict(h) for h in resume["history"]] if resume else []

        def reporter(metrics: dict, write_checkpoint) -> None:
            write_checkpoint(ckpt_dir / "last.pt")
            if metrics["best_epoch"] == metrics["epoch"]:
                write_checkpoint(ckpt_dir / "best.pt")
            history.append(metrics)
            atomic_write_text(run_dir / "metrics.csv", metrics_csv(history, cfg.task.type))
            if tb is not None:
                for key in metric_columns(cfg.task.type)[1:-4]:
                    tb.add_scalar(key, metrics[key], metrics["epoch"])
                tb.flush()

        t0 = time.perf_counter()
        try:
            result = fit(cfg, data, reporter=reporter, resume=resume, progress=progress,
                         device=device)
        except NonFiniteLossError as exc:
            log.error("%s", exc)
            _write_summary(run_dir, cfg, history, None, time.perf_counter() - t0, "failed",
                           str(exc))
            raise

        test = None
        if len(data.test) == 0:
            log.info("no test split: summary.json has no test metrics")
        elif (ckpt_dir / "best.pt").exists():
            best = load_checkpoint(ckpt_dir / "best.pt")
            net = build_model(cfg.model, data.num_features, data.num_outputs).to(device)
            net.load_state_dict(best["model"])
            # binary: f1_best applies the threshold chosen on validation at best.pt's epoch
            threshold = best["history"][-1].get("val_threshold")
            test = evaluate(net, data.test, cfg.training.eval_batch_size, device,
                            result.precision, loss_fn.to(device), top_k=cfg.task.top_k,
                            threshold=threshold, target_mean=data.target_mean,
                            target_std=data.target_std)
            log.info("test (best.pt, epoch %d): %s", best["epoch"],
                     "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
        summary = _write_summary(run_dir, cfg, history, test, time.perf_counter() - t0,
                                 result.stop_reason, None, has_test=len(data.test) > 0)
        log.info("done: %s", run_dir)
    finally:
        # A notebook runs many runs in one process: each run's log file is closed at its end.
        log.removeHandler(log_file)
        log_file.close()
    return TrainingResult(run_dir=run_dir, status=summary["status"],
                          metric=summary["checkpoint_metric"], best_epoch=summary["best_epoch"],
                          best_metric=summary["best_metric"], test=summary["test"],
                          history=history)


def _tensorboard(run_dir: Path):
    """A TensorBoard writer for the run directory (``tensorboard --logdir runs/``), or None."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        log.warning("tensorboardX is not installed: no TensorBoard event files")
        return None
    return SummaryWriter(str(run_dir), flush_secs=30)


def _write_summary(run_dir: Path, cfg: Config, history: list[dict], test: dict | None,
                   wall: float, status: str, error: str | None, has_test: bool = True) -> dict:
    """Writes summary.json and returns it. ``test``: best.pt's test metrics, null with
    ``test_split: "absent"`` when the data have no test split; binary runs also record the
    validation threshold."""
    metric = cfg.training.checkpoint_metric
    best = history[-1]["best_epoch"] if history else 0
    summary = {
        "status": status,
        "error": error,
        "task": cfg.task.type,
        "epochs_run": len(history),
        "best_epoch": best,
        "checkpoint_metric": metric,
        "checkpoint_mode": cfg.training.checkpoint_mode,
        "best_metric": history[best - 1][metric] if best else None,
        "test_split": "present" if has_test else "absent",
        "test": {f"test_{k}": v for k, v in test.items() if k != "threshold"} if test else None,
        "wall_time_s": round(wall, 3),
        "finished_at": datetime.now().isoformat(timespec="seconds"),
    }
    if cfg.task.type == "binary" and best:
        # chosen on validation at the best epoch, applied unchanged to test_f1_best
        summary["val_threshold"] = history[best - 1].get("val_threshold")
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary

