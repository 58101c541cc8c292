"""The training loop shared by standalone runs and sweep trials.

``fit(config, data, reporter=...)`` trains and, after every epoch, calls
``reporter(metrics, write_checkpoint)``: ``metrics`` is a dict of Python numbers and
``write_checkpoint(path)`` saves the complete training state (model, optimizer, scheduler, scaler,
every RNG, counters, history, config) so that ``fit(config, data, resume=load_checkpoint(path))``
continues exactly where it stopped. The loop writes no files itself and knows nothing of the tuner.

The best epoch (``best_epoch`` in the metrics; ``checkpoints/best.pt`` of a run) is chosen by
``core.selection.improves``: a tie on ``training.checkpoint_metric`` goes to the lower
``val_loss``. What the loop is made of lives beside it: ``core.device`` (device, precision),
``core.optim`` (optimizer, schedule), ``core.step`` (one training step), ``core.evaluate``,
``core.train_state`` (what a checkpoint holds).

Example:
    >>> from core.config import config_from_dict
    >>> cfg = config_from_dict({"training": {"epochs": 1}, "data": {"synthetic":
    ...     {"num_samples": 200, "seq_len": 16}}, "model": {"hidden_size": 8}})
    >>> result = fit(cfg, reporter=lambda metrics, write_checkpoint: print(metrics["epoch"]))
    1
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch

from core.checkpoint import capture_rng, restore_rng, save_checkpoint
from core.config import Config, config_to_dict
from core.console import epoch_extra
from core.cv import FOLD_STATES, OOF_KEY, FoldEnsemble, fold_summary, is_cv_state
from core.data import DataSplits, load_data
from core.device import (
    autocast_context,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from core.epochs import (
    PROCESS_TIMINGS,
    Epoch,
    FitResult,
    Reporter,
    log_task,
    record_best,
    task_loss,
    train_epochs,
)
from core.errors import NonFiniteLossError, TrainingError
from core.evaluate import evaluate
from core.metrics import best_f1_threshold
from core.optim import build_optimizer, build_scheduler
from core.selection import imbalance_warning
from core.step import forward_backward, optimizer_step
from core.tasks import direction
from core.train_state import new_counters

# fit lives here, and FitResult, Reporter and task_loss (core.epochs) are re-exported; the other
# names are re-exported from their modules (core.errors, core.device, core.optim, core.step,
# core.evaluate, core.selection) for code that imports them from core.loop.
__all__ = ["fit", "FitResult", "Reporter", "task_loss", "evaluate", "TrainingError",
           "NonFiniteLossError", "resolve_device", "resolve_precision", "build_optimizer",
           "build_scheduler", "optimizer_step", "autocast_context", "forward_backward",
           "imbalance_warning"]

log = logging.getLogger("core")


# ---------------------------------------------------------------------------------------------
# The loop


def fit(cfg: Config, data: DataSplits | None = None, *, reporter: Reporter | None = None,
        resume: dict[str, Any] | None = None, progress: bool = False,
        device: torch.device | None = None) -> FitResult:
    """Trains ``cfg``'s model on ``data`` (built from ``cfg.data`` when None).

    With ``data.cv_folds`` (``data.folds`` set) it trains the K fold models epoch by epoch
    together and reports the fold summary of each epoch (``core.cv.fold_summary``: fold means
    under the metrics' own names, ``<name>_fold<k>``, ``<name>_sd``); the best epoch and early
    stopping use the fold means (binary: ``val_threshold`` is the F1-optimal threshold of all
    out-of-fold predictions together, or ``task.threshold`` when fixed); a checkpoint holds
    every fold's state; ``FitResult.model`` is the ``FoldEnsemble`` of the fold models and
    ``extras["oof"]`` the out-of-fold outputs of the best epoch ([N_train, outputs] float32, rows
    in train order).

    Args:
        cfg: validated config.
        data: prepared splits (a sweep builds them once and shares them across trials).
        reporter: called after every epoch with the metrics and a checkpoint writer.
        resume: a state from ``load_checkpoint``; training continues after its epoch.
        progress: show a tqdm bar per epoch (for terminals).
        device: overrides ``cfg.experiment.device`` (a tuner assigns the GPU).

    Raises:
        NonFiniteLossError: the loss became NaN or inf.
        TrainingError: the device or the resume state does not fit the config.
    """
    if data is None:
        seed_everything(cfg.experiment.seed)
        data = load_data(cfg.data, cfg.task)
    if data.folds:
        return _fit_folds(cfg, data, reporter, resume, device)
    if cfg.data.cv_folds:
        raise TrainingError(f"data.cv_folds is {cfg.data.cv_folds} but the data given have no "
                            "folds (ready DataSplits are used as they are: build them from the "
                            "config, or set data.cv_folds: 0)")
    if resume is not None and is_cv_state(resume):
        raise TrainingError("cannot resume: the checkpoint is a cross-validated run's "
                            "(data.cv_folds) and the data have no folds")
    run = train_epochs(cfg, data, resume=resume, progress=progress, device=device)
    next(run)  # set up
    while True:
        try:
            epoch = next(run)
        except StopIteration as stop:
            return stop.value
        if reporter is not None:
            reporter(epoch.metrics, epoch.write_checkpoint)


def _fit_folds(cfg: Config, data: DataSplits, reporter: Reporter | None,
               resume: dict[str, Any] | None, device: torch.device | None) -> FitResult:
    """``fit`` with ``data.folds``: the K fold runs (``core.epochs.train_epochs``) advanced one
    epoch each in turn, in fold order, so the process RNG they share (dropout) is drawn in the
    same order whether or not the run was resumed."""
    k_folds = len(data.folds)
    if resume is not None and (not is_cv_state(resume)
                               or len(resume[FOLD_STATES]) != k_folds):
        raise TrainingError(f"cannot resume: the checkpoint is not a {k_folds}-fold "
                            f"cross-validated run's (data.cv_folds)")
    device = device or resolve_device(cfg.experiment.device)
    t = cfg.training
    # Early stopping watches the fold mean (below), never one fold: the folds stay in step.
    fold_cfg = dataclasses.replace(cfg, training=dataclasses.replace(
        t, early_stopping=dataclasses.replace(t.early_stopping, patience=0)))
    sizes = [len(va) for _, va in data.folds]
    log.info("cross-validation: %d folds trained together, validation %d-%d sequences each",
             k_folds, min(sizes), max(sizes))
    log_task(cfg, data.fold(0), task_loss(cfg, data))
    runs = [train_epochs(fold_cfg, data.fold(k), resume=None if resume is None
                         else resume[FOLD_STATES][k], progress=False, device=device, fold=k)
            for k in range(k_folds)]
    for run in runs:
        next(run)  # each fold seeds (or restores) the process RNG as it sets up
    state = new_counters()
    oof: torch.Tensor | None = None
    if resume is not None:
        restore_rng(resume["rng"])  # where the interrupted run stood after its last epoch
        state.update({key: resume[key] for key in state})
        state["history"] = [dict(h) for h in resume["history"]]
        oof = resume.get(OOF_KEY)
        log.info("resumed after epoch %d (%d folds)", state["epoch"], k_folds)
    ckpt_metric = t.checkpoint_metric
    ckpt_mode = direction(cfg.task.type, ckpt_metric)
    es = t.early_stopping
    es_mode = direction(cfg.task.type, es.metric)
    n_train = len(data.train)
    stop_reason = "completed"
    results: list[FitResult] = []
    while True:
        epochs: list[Epoch] = []
        for run in runs:
            try:
                epochs.append(next(run))
            except StopIteration as stop:
                results.append(stop.value)
        if not epochs:
            break
        metrics = fold_summary([e.metrics for e in epochs])
        epoch = metrics["epoch"]
        first = epochs[0].val_outputs
        epoch_oof = torch.zeros((n_train, *first.shape[1:]), dtype=torch.float32)
        for (_, va), e in zip(data.folds, epochs, strict=True):
            epoch_oof[torch.from_numpy(va)] = e.val_outputs.float()
        if cfg.task.type == "binary" and cfg.task.threshold is None:
            # The decision threshold from all out-of-fold predictions together (F1-optimal, as
            # one validation split's): steadier than the mean of K small folds' thresholds,
            # which stay as val_threshold_fold<k>. (A fixed task.threshold is every fold's.)
            metrics["val_threshold"] = float(best_f1_threshold(
                epoch_oof.reshape(-1).sigmoid(), data.train.y.float().reshape(-1)))
        if record_best(state, metrics, epoch, ckpt_metric, ckpt_mode, es, es_mode):
            oof = epoch_oof
        state["epoch"], state["global_step"] = epoch, metrics["global_step"]
        history_row = {k: v for k, v in metrics.items() if k not in PROCESS_TIMINGS}
        state["history"].append(history_row)
        shown = "  ".join(f"{k} {metrics[k]:.4f} (sd {metrics[k + '_sd']:.4f})"
                          for k in dict.fromkeys(("val_loss", ckpt_metric)))
        log.info("epoch %d/%d  fold means: train_loss %.4f  %s  lr %.3g  %.1fs", epoch,
                 t.epochs, metrics["train_loss"], shown, metrics["lr"],
                 metrics["epoch_time_s"], extra=epoch_extra(metrics, t.epochs, ckpt_metric))

        def write_checkpoint(path: str | Path, durable: bool = True,
                             _epochs_now: list[Epoch] = epochs,
                             _oof: torch.Tensor | None = oof) -> None:
            fold_states = [e.state() for e in _epochs_now]
            save_checkpoint({**{k: v for k, v in fold_states[0].items()
                                if k not in ("model", "optimizer", "scheduler", "scaler",
                                             "data_rng")},
                             **{k: state[k] for k in new_counters()},
                             FOLD_STATES: fold_states, "rng": capture_rng(), OOF_KEY: _oof,
                             "config": config_to_dict(cfg)}, path, durable)

        if reporter is not None:
            reporter(metrics, write_checkpoint)
        if es.patience and state["es_bad_epochs"] >= es.patience:
            log.info("early stopping: the fold mean of %s has not improved by %g for %d epochs",
                     es.metric, es.min_delta, es.patience)
            stop_reason = "early_stopping"
            for run in runs:
                run.close()
            results = []
            break
    models = [e.model for e in epochs] if epochs else [r.model for r in results]
    return FitResult(history=state["history"], best_epoch=state["best_epoch"],
                     best_metric=state["best_metric"] if state["best_metric"] is not None
                     else float("nan"), stop_reason=stop_reason,
                     model=FoldEnsemble(models, cfg.task.type), device=device,
                     precision=resolve_precision(t.precision, device, cfg.model.name),
                     extras={OOF_KEY: oof})

