"""One training run, epoch by epoch: the loop ``core.loop.fit`` drives.

``train_epochs(cfg, data, ...)`` is a generator: it sets the run up (device, precision, model,
optimizer, schedule, the CUDA-graphed step, a resumed state), yields once, then yields an
``Epoch`` after every epoch (its metrics, a checkpoint writer, the complete state) and returns the
``FitResult``. ``core.loop.fit`` drives one such generator (a run) or K of them in turn (a
cross-validated run, ``data.cv_folds``); ``task_loss``, ``FitResult`` and ``Reporter`` are shared
by both.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.checkpoint import save_checkpoint
from core.config import Config
from core.console import epoch_extra
from core.cuda_graph import GraphedStep, prepare_optimizer, release_optimizer, unsupported_reason
from core.data import BatchSource, DataSplits
from core.device import (
    configure_torch,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from core.errors import TrainingError
from core.evaluate import evaluate
from core.losses import LossSetupError, TaskLoss, build_loss
from core.models import build_model, count_parameters
from core.optim import build_optimizer, build_scheduler
from core.selection import imbalance_warning, improves, small_validation_warning
from core.step import check_finite, forward_backward, group_weights, optimizer_step
from core.tasks import direction
from core.train_state import new_counters, restore_state, training_state

__all__ = ["PROCESS_TIMINGS", "Epoch", "FitResult", "Reporter", "log_task", "record_best",
           "task_loss", "train_epochs"]

log = logging.getLogger("core")

Reporter = Callable[[dict[str, float], Callable[[str | Path], None]], None]

# Keys of an epoch's metrics that time this process (seconds from the run's start in it to its
# first batch, and to that batch trained), not the run: reported with every epoch, never part of
# the history a checkpoint keeps.
PROCESS_TIMINGS = ("setup_s", "first_step_s")


@dataclass
class FitResult:
    history: list[dict[str, float]]
    best_epoch: int
    best_metric: float
    stop_reason: str  # "completed" or "early_stopping"
    model: nn.Module
    device: torch.device
    precision: str
    extras: dict[str, Any] = field(default_factory=dict)


def task_loss(cfg: Config, data: DataSplits) -> TaskLoss:
    """The loss of ``cfg.task`` with weights from ``data``'s train split (on the CPU).

    Raises:
        TrainingError: the data were built for another task type, or the loss options do not
            fit the data (the message names the key, e.g. ``task.class_weight``).
    """
    if data.task != cfg.task.type:
        raise TrainingError(f"task.type is {cfg.task.type} but the data were prepared for "
                            f"{data.task}")
    try:
        return build_loss(cfg.task, data.train.y, data.class_names)
    except LossSetupError as exc:
        raise TrainingError(str(exc)) from None



@dataclass
class Epoch:
    """What a training generator yields after each epoch."""

    metrics: dict[str, Any]  # the epoch's metrics, setup_s and first_step_s included
    write_checkpoint: Callable[..., None]
    state: Callable[[], dict[str, Any]]  # the complete training state now
    model: nn.Module
    val_outputs: torch.Tensor | None  # [N_val, outputs] validation logits (fold runs only)


def train_epochs(cfg: Config, data: DataSplits, *, resume: dict[str, Any] | None, progress: bool,
            device: torch.device | None, fold: int | None = None):
    """The training loop as a generator: yields None once set up, then an ``Epoch`` after each
    epoch, and returns the ``FitResult``. ``fold``: the fold this run is (its per-epoch lines
    are logged at debug level, its validation outputs kept)."""
    t_start = time.perf_counter()
    device = device or resolve_device(cfg.experiment.device)
    precision = resolve_precision(cfg.training.precision, device, cfg.model.name)
    configure_torch(cfg, device)
    if cfg.experiment.deterministic and fold in (None, 0):
        log.info("deterministic algorithms on: cuDNN autotuning off, deterministic kernels only; "
                 "the default GRU measured 6-20%% fewer samples/s on an H100")
    seed_everything(cfg.experiment.seed)
    say = log.info if fold is None else log.debug
    # data.val_fraction 0: no validation; the last epoch (or the lowest train_loss) is best
    has_val = len(data.val) > 0
    if len(data.train) == 0:
        raise TrainingError("the train split is empty")
    if not has_val and cfg.data.val_fraction > 0:
        raise TrainingError(f"the val split is empty (data.val_fraction is "
                            f"{cfg.data.val_fraction}; 0 trains without validation)")
    if not has_val and cfg.training.early_stopping.patience:
        raise TrainingError("training.early_stopping.patience: early stopping watches a "
                            "validation metric and the data have no validation split "
                            "(data.val_fraction 0)")

    t = cfg.training
    loss_fn = task_loss(cfg, data).to(device)
    if fold is None:
        log_task(cfg, data, loss_fn)
    model = build_model(cfg.model, data.num_features, data.num_outputs).to(device)
    if resume is None and hasattr(model, "fit_data"):
        # Fitted, not trained (minirocket's biases): from the training split, before epoch 1;
        # a resumed run loads them from its checkpoint instead.
        t_fit = time.perf_counter()
        train_lengths = data.train.lengths
        model.fit_data(data.train.x.to(device), None if train_lengths is None else
                       train_lengths.to(device), cfg.experiment.seed)
        log.info("%s fitted to the %d training sequences in %.2f s", cfg.model.name,
                 len(data.train), time.perf_counter() - t_fit)
    step_model = torch.compile(model) if t.compile else model
    optimizer = build_optimizer(model, cfg)
    data_gen = torch.Generator().manual_seed(cfg.experiment.seed)
    train_source = BatchSource(data.train, cfg.loader, device, t.batch_size, data_gen)
    val_split = data.val.to(device) if cfg.loader.mode == "tensor" else data.val
    num_batches = train_source.num_batches()
    if num_batches == 0:
        raise TrainingError(f"training.batch_size {t.batch_size} with loader.drop_last leaves no "
                            f"training batch ({len(data.train)} sequences)")
    steps_per_epoch = -(-num_batches // t.grad_accum_steps)
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
    per_step = scheduler is not None and cfg.schedule.interval == "step" and \
        cfg.schedule.name != "plateau"
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    weights = group_weights(num_batches, t.batch_size, len(data.train), t.grad_accum_steps,
                             cfg.loader.drop_last)

    ckpt_metric = t.checkpoint_metric
    ckpt_mode = direction(cfg.task.type, ckpt_metric)
    es_mode = direction(cfg.task.type, t.early_stopping.metric)
    if not has_val and ckpt_metric != "train_loss":
        log.info("no validation split: every epoch replaces best.pt, the last epoch is the "
                 "model (training.checkpoint_metric: train_loss keeps the lowest train_loss)")
    es = t.early_stopping
    state = new_counters()
    if resume is not None:
        state = restore_state(resume, cfg, model, optimizer, scheduler, scaler, data_gen)
        say("resumed after epoch %d (global step %d)", state["epoch"], state["global_step"])
    use_graph = False
    if t.cuda_graph:
        reason = unsupported_reason(
            device=device, loader_mode=cfg.loader.mode, grad_accum_steps=t.grad_accum_steps,
            precision=precision, optimizer=cfg.optim.name, compile=t.compile,
            bidirectional=cfg.model.bidirectional, has_lengths=data.train.lengths is not None)
        if reason:  # expected on CPU (configs ask for graphs for their GPU runs): no warning
            (log.info if device.type != "cuda" else log.warning)(
                "training.cuda_graph: %s; training eagerly", reason)
        else:
            prepare_optimizer(optimizer, device)
            use_graph = True
    graphed: GraphedStep | None = None

    def captured_step(x: torch.Tensor, y: torch.Tensor, lengths: torch.Tensor | None):
        loss = forward_backward(model, x, y, lengths, 1.0, precision, device, None, loss_fn)
        optimizer_step(model, optimizer, None, t.grad_clip_norm)
        return loss

    (log.info if fold in (None, 0) else log.debug)(
        "python %s, torch %s, CUDA %s, cuDNN %s", sys.version.split()[0], torch.__version__,
        torch.version.cuda or "none", torch.backends.cudnn.version() or "none")
    (log.info if fold in (None, 0) else log.debug)(
        "%sdevice %s (%s), precision %s, seed %d, %s parameters, loader %s",
        "" if fold is None else "each fold model: ",
             device, torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
             precision, cfg.experiment.seed, f"{count_parameters(model):,}", cfg.loader.mode)

    def current_state() -> dict[str, Any]:
        return training_state(cfg, model, optimizer, scheduler, scaler, data_gen, data, state)

    def write_checkpoint(path: str | Path, durable: bool = True) -> None:
        save_checkpoint(current_state(), path, durable)

    yield None  # set up: a fold run waits here until every fold is

    stop_reason = "completed"
    epoch_times: list[float] = []
    setup_s = None  # fit() entry to the first training batch: model, data on device, CUDA init
    first_step_s = None  # fit() entry to the first batch trained (forward, backward, step)
    for epoch in range(state["epoch"] + 1, t.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        # sample-weighted sum of losses, fp32; a graph accumulates into its own static buffer
        loss_sum = graphed.loss_sum.zero_() if graphed else torch.zeros((), device=device)
        seen = 0
        bar = _progress_bar(num_batches, epoch, t.epochs) if progress else None
        for i, (x, y, lengths) in enumerate(train_source):
            n_i = y.shape[0]
            if setup_s is None:
                setup_s = time.perf_counter() - t_start
            if use_graph and graphed is None and n_i == t.batch_size:
                t_capture = time.perf_counter()
                try:
                    graphed = GraphedStep(model, optimizer, captured_step, (x, y, lengths))
                    graphed.loss_sum.copy_(loss_sum)
                    loss_sum = graphed.loss_sum
                    log.info("training step captured as a CUDA graph in %.2f s",
                             time.perf_counter() - t_capture)
                except Exception as exc:  # capture is an optimisation: train on without it
                    log.warning("training.cuda_graph: capture failed (%s: %s); training "
                                "eagerly (a forward that synchronises with the host, such as "
                                ".item(), .cpu() or a branch on a tensor's value, cannot be "
                                "captured)", type(exc).__name__, exc)
                    use_graph = False
                    release_optimizer(optimizer)
            if graphed is not None and n_i == graphed.batch:
                graphed(x, y, lengths)  # forward, backward, clip and optimizer step
                stepped = True
            else:
                if graphed is not None:
                    optimizer.zero_grad(set_to_none=True)  # drop the last replay's gradients
                loss = forward_backward(step_model, x, y, lengths, weights[i], precision,
                                        device, scaler, loss_fn)
                loss_sum.add_(loss, alpha=n_i)
                stepped = (i + 1) % t.grad_accum_steps == 0 or i + 1 == num_batches
                if stepped:
                    optimizer_step(model, optimizer, scaler, t.grad_clip_norm)
                    optimizer.zero_grad(set_to_none=True)
            seen += n_i
            if stepped:
                if per_step:
                    scheduler.step()
                state["global_step"] += 1
            if first_step_s is None:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)  # once per run: the step has run, not queued
                first_step_s = time.perf_counter() - t_start
            if (i + 1) % t.log_interval == 0:
                check_finite(loss_sum, epoch, state["global_step"])
                if bar is not None:
                    bar.update(t.log_interval)
                    bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}")
        if bar is not None:
            bar.close()
        train_loss = float(loss_sum.item()) / max(seen, 1)
        check_finite(loss_sum, epoch, state["global_step"])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_time = time.perf_counter() - t0
        lr = float(optimizer.param_groups[0]["lr"])  # a device tensor when the step is graphed
        kept: dict[str, torch.Tensor] | None = {} if fold is not None else None
        # binary: f1_best at task.threshold when fixed, else at the split's F1-optimal one
        val = evaluate(step_model, val_split, t.eval_batch_size, device, precision, loss_fn,
                       top_k=cfg.task.top_k, threshold=cfg.task.threshold,
                       target_mean=data.target_mean,
                       target_std=data.target_std, keep_outputs=kept) if has_val else {}
        if scheduler is not None and not per_step:
            scheduler.step(val["loss"] if has_val else train_loss) if plateau else \
                scheduler.step()
        epoch_time = time.perf_counter() - t0
        epoch_times.append(epoch_time)
        metrics = {"epoch": epoch, "train_loss": train_loss,
                   **{f"val_{k}": v for k, v in val.items()}, "lr": lr,
                   "epoch_time_s": epoch_time, "samples_per_s": seen / train_time,
                   "global_step": state["global_step"]}
        # core.selection.improves: better, or tied and a lower val_loss (a later epoch wins a
        # tie on a saturated metric, e.g. val_auroc 1.0 on a small validation split)
        if not has_val and ckpt_metric != "train_loss":
            state["best_metric"], state["best_epoch"] = None, epoch  # the last epoch
            metrics["best_epoch"], metrics["best_metric"] = epoch, float("nan")
        else:
            record_best(state, metrics, epoch, ckpt_metric, ckpt_mode, es, es_mode)
        state["epoch"] = epoch
        state["history"].append(dict(metrics))
        shown = "  ".join(f"val_{k} {v:.4f}" for k, v in val.items()
                          if k in ("loss", "threshold") or f"val_{k}" in (ckpt_metric, es.metric)
                          or k in _HEADLINE)
        say("%sepoch %d/%d  train_loss %.4f  %s  lr %.3g  %.1fs  %.0f samples/s",
            "" if fold is None else f"fold {fold} ", epoch, t.epochs, train_loss, shown, lr,
            epoch_time, metrics["samples_per_s"],
            extra=epoch_extra(metrics, t.epochs, ckpt_metric))
        if len(epoch_times) == 2 and epoch < t.epochs and fold is None:
            remaining = (t.epochs - epoch) * sum(epoch_times) / 2
            log.info("projected: %.0f s more, about %.0f s in total", remaining,
                     time.perf_counter() - t_start + remaining)
        yield Epoch({**metrics, **dict(zip(PROCESS_TIMINGS, (setup_s, first_step_s),
                                           strict=True))},
                    write_checkpoint, current_state, model,
                     None if kept is None else kept["outputs"])
        if es.patience and state["es_bad_epochs"] >= es.patience:
            log.info("early stopping: %s has not improved by %g for %d epochs", es.metric,
                     es.min_delta, es.patience)
            stop_reason = "early_stopping"
            break

    return FitResult(history=state["history"], best_epoch=state["best_epoch"],
                     best_metric=state["best_metric"] if state["best_metric"] is not None
                     else float("nan"), stop_reason=stop_reason, model=model, device=device,
                     precision=precision)


def record_best(state: dict[str, Any], metrics: dict[str, Any], epoch: int, ckpt_metric: str,
                ckpt_mode: str, es: Any, es_mode: str) -> bool:
    """Moves ``state``'s best epoch and early-stopping counters by this epoch's ``metrics`` (the
    rule of ``core.selection.improves``: a tie on the metric goes to the lower ``val_loss``), sets
    ``metrics["best_epoch"]`` and ``["best_metric"]``; True when this epoch is the new best.
    ``es``: the early-stopping section (patience 0: off)."""
    best_row = state["history"][state["best_epoch"] - 1] if state["best_epoch"] else {}
    better = improves(metrics[ckpt_metric], state["best_metric"], ckpt_mode,
                      val_loss=metrics.get("val_loss"), best_val_loss=best_row.get("val_loss"))
    if better:
        state["best_metric"], state["best_epoch"] = metrics[ckpt_metric], epoch
    metrics["best_epoch"] = state["best_epoch"]
    metrics["best_metric"] = state["best_metric"] if state["best_metric"] is not None \
        else float("nan")
    if es.patience:
        # The same rule: an exact tie with a lower val_loss resets the patience, as it moves
        # best.pt; min_delta applies to the metric itself, never to the tie-break.
        if improves(metrics[es.metric], state["es_best"], es_mode, min_delta=es.min_delta,
                    val_loss=metrics["val_loss"], best_val_loss=state["es_best_val_loss"]):
            state["es_best"], state["es_bad_epochs"] = metrics[es.metric], 0
            state["es_best_val_loss"] = metrics["val_loss"]
        else:
            state["es_bad_epochs"] += 1
    return better


# Metrics shown in each epoch's log line besides the loss and the watched metrics.
_HEADLINE = ("accuracy", "macro_f1", "auroc", "map", "rmse")


def log_task(cfg: Config, data: DataSplits, loss_fn: TaskLoss) -> None:
    """The task, its loss and weights, and the warnings about the checkpoint metric: accuracy on
    imbalanced classes, a coarse metric on a small validation split."""
    parts = [f"task {cfg.task.type}, loss {loss_fn.name}"]
    if loss_fn.class_weight is not None:
        weights = ", ".join(f"{n} {w:.3g}" for n, w in zip(data.class_names,
                                                            loss_fn.class_weight.tolist(),
                                                            strict=True))
        source = "balanced, from the train split" if cfg.task.class_weight == "balanced" \
            else "given"
        parts.append(f"class weights ({source}): {weights}")
    if loss_fn.pos_weight is not None:
        parts.append(f"pos_weight ({cfg.task.pos_weight}): "
                     f"{', '.join(f'{w:.3g}' for w in loss_fn.pos_weight.tolist())}")
    log.info("%s", "; ".join(parts))
    if cfg.loader.sampler == "balanced" and (loss_fn.class_weight is not None
                                             or loss_fn.pos_weight is not None):
        # Each alone evens the classes out; both together weight the minority twice over.
        log.warning("loader.sampler: balanced already draws the classes equally often; with "
                    "%s the minority class is corrected for twice (use one of them)",
                    "task.class_weight" if loss_fn.class_weight is not None
                    else "task.pos_weight")
    warning = imbalance_warning(cfg.task.type, data.train.y, data.class_names,
                                cfg.training.checkpoint_metric)
    if warning:
        log.warning("training.checkpoint_metric: %s", warning)
    warning = small_validation_warning(len(data.val), cfg.training.checkpoint_metric) \
        if len(data.val) else None
    if warning:
        log.warning("training.checkpoint_metric: %s", warning)


def _progress_bar(total: int, epoch: int, epochs: int):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"epoch {epoch}/{epochs}", leave=False, unit="batch",
                dynamic_ncols=True)

