"""The run directory of ``core.run``: its file names and formats, and the checks on it.

::

    config_snapshot.yaml   the fully resolved config, written first, never changed
    environment.txt        python, torch, CUDA, cuDNN, device, installed packages
    train.log              the run's log
    metrics.csv            one row per epoch (``metric_columns``)
    checkpoints/last.pt    full training state after the latest epoch (+ .sha256)
    checkpoints/best.pt    the same, at the best epoch by training.checkpoint_metric (a tie goes
                           to the lower val_loss: ``core.selection``)
    summary.json           best epoch and metric, test metrics of best.pt (binary: at the
                           threshold chosen on validation), wall time (``write_summary``)
    events.out.tfevents.*  TensorBoard scalars of every epoch (with tensorboardX)
    oof_predictions.csv    data.cv_folds: out-of-fold outputs of best.pt's epoch (``write_oof``);
                           best.pt and last.pt then hold every fold's state (``core.cv``)

Example:
    >>> metric_columns("regression")[:5]
    ['epoch', 'train_loss', 'val_loss', 'val_rmse', 'val_mae']
"""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
from datetime import datetime
from pathlib import Path

from core.config import Config
from core.errors import RunError
from core.files import atomic_write_text
from core.tasks import decision_threshold, direction, metric_names

__all__ = ["SNAPSHOT_FILE", "ENSEMBLE_INDEX", "OOF_FILE", "RunError", "default_run_dir",
           "check_new_run_dir", "check_writable", "metric_columns", "metrics_csv",
           "finished_reason", "open_tensorboard", "write_summary", "write_oof"]

log = logging.getLogger("core")

SNAPSHOT_FILE = "config_snapshot.yaml"
ENSEMBLE_INDEX = "ensemble.json"  # a trained ensemble's members and weights (core.ensemble_run)
OOF_FILE = "oof_predictions.csv"  # a cross-validated run's out-of-fold outputs (best epoch)


def default_run_dir(name: str) -> Path:
    """``runs/train/<name>-<YYYYmmdd-HHMMSS>``, relative to the working directory."""
    return Path("runs") / "train" / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def check_new_run_dir(run_dir: Path) -> None:
    """Raises ``RunError`` unless ``run_dir`` is missing or empty (a run never overwrites one)
    and can be written (``check_writable``)."""
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(f"{run_dir} already exists and is not empty; choose another run "
                       f"directory or continue it with --resume {run_dir}")
    check_writable(run_dir)


def check_writable(run_dir: Path) -> None:
    """Raises ``RunError`` unless a file can be created in ``run_dir`` or, while it does not
    exist, in its nearest existing parent (a read-only disk, no permission, a file in the way).
    Leaves nothing behind: the probe is an anonymous temporary file."""
    at = run_dir
    while not at.exists() and at != at.parent:
        at = at.parent
    if not at.is_dir():
        raise RunError(f"{run_dir}: cannot create the run directory: {at} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=at):
            pass
    except OSError as exc:
        raise RunError(f"{run_dir}: cannot write to {at}: {exc.strerror}") from None


def metric_columns(task_type: str) -> list[str]:
    """metrics.csv's columns: the epoch, the losses, the task's validation metrics (binary: and
    the validation F1 threshold), then lr, timings, step and the best epoch so far."""
    val = [f"val_{name}" for name in metric_names(task_type)]
    if task_type == "binary":
        val.append("val_threshold")
    return ["epoch", "train_loss", *val, "lr", "epoch_time_s", "samples_per_s", "global_step",
            "best_epoch", "best_metric"]


def metrics_csv(history: list[dict], task_type: str = "multiclass") -> str:
    """The text of metrics.csv for ``history`` (``metric_columns``, then a cross-validated
    run's per-fold values and spreads, ``*_fold<k>`` and ``*_sd``; other keys left out)."""
    buf = io.StringIO()
    columns = metric_columns(task_type)
    if history:
        columns += [k for k in history[0] if k.endswith("_sd") or "_fold" in k]
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow(row)
    return buf.getvalue()


def write_oof(path: Path, state: dict, data) -> None:
    """The out-of-fold predictions of a cross-validated run's best epoch (``state``: best.pt)
    as CSV, one row per training sequence: ``sequence_id``, ``fold``, the target(s) and the
    model's outputs (``output_<name>``: logits; regression: in original units)."""
    import numpy as np

    oof = state.get("oof")
    if oof is None:
        return
    out = oof.double().numpy()
    y = data.train.y.double().numpy()
    if data.task == "regression":
        mean, std = data.target_mean.double().numpy(), data.target_std.double().numpy()
        out, y = out * std + mean, y * std + mean
    fold = np.zeros(len(out), np.int64)
    for k, (_, va) in enumerate(data.folds):
        fold[va] = k
    names = ["positive"] if data.task == "binary" else list(data.class_names)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    target_cols = ["target"] if y.ndim == 1 else [f"target_{n}" for n in data.class_names]
    writer.writerow(["sequence_id", "fold", *target_cols, *(f"output_{n}" for n in names)])
    ids = data.train.ids if data.train.ids is not None else np.arange(len(out))
    for i in range(len(out)):
        target = [data.class_names[int(y[i])]] if data.task == "multiclass" else \
            np.atleast_1d(y[i]).tolist()
        writer.writerow([ids[i], int(fold[i]), *target,
                         *np.atleast_1d(out[i]).tolist()])
    atomic_write_text(path, buf.getvalue())


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


def open_tensorboard(run_dir: Path):
    """A TensorBoard writer for the run directory (``tensorboard --logdir runs/``), or None."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        log.warning("tensorboardX is not installed: no TensorBoard event files")
        return None
    return SummaryWriter(str(run_dir), flush_secs=30)


def write_summary(run_dir: Path, cfg: Config, history: list[dict], test: dict | None,
                  wall: float, status: str, error: str | None, has_test: bool = True) -> dict:
    """Writes summary.json and returns it. ``test``: best.pt's test metrics, null with
    ``test_split: "absent"`` when the data have no test split; binary runs also record the
    validation threshold and the decision threshold that ``test_f1_best`` and ``core.predict``'s
    labels apply (``threshold``, ``threshold_from``: ``core.tasks.decision_threshold``)."""
    metric = cfg.training.checkpoint_metric
    best = history[-1]["best_epoch"] if history else 0
    summary = {
        "status": status,
        "error": error,
        "task": cfg.task.type,
        "epochs_run": len(history),
        "best_epoch": best,
        "checkpoint_metric": metric,
        "checkpoint_mode": direction(cfg.task.type, metric),
        "best_metric": history[best - 1].get(metric) if best else None,  # None: no val split
        "test_split": "present" if has_test else "absent",
        "test": {f"test_{k}": v for k, v in test.items() if k != "threshold"} if test else None,
        "wall_time_s": round(wall, 3),
        "finished_at": datetime.now().isoformat(timespec="seconds"),
    }
    if cfg.data.cv_folds:
        summary["cv_folds"] = cfg.data.cv_folds
        summary["best_metric_sd"] = history[best - 1].get(f"{metric}_sd") if best else None
        summary["test_model"] = "mean of the fold models' predictions (best.pt's epoch)"
    if cfg.task.type == "binary" and best:
        # chosen on validation at the best epoch (or fixed by task.threshold), applied unchanged
        # to test_f1_best
        summary["val_threshold"] = history[best - 1].get("val_threshold")
        summary["threshold"], summary["threshold_from"] = decision_threshold(
            cfg.task.threshold, summary["val_threshold"])
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary

