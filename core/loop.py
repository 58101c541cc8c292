"""The training loop shared by standalone runs and sweep trials.

``fit(config, data, reporter=...)`` trains and, after every epoch, calls
``reporter(metrics, write_checkpoint)``: ``metrics`` is a dict of Python numbers and
``write_checkpoint(path)`` saves the complete training state (model, optimizer, scheduler, scaler,
every RNG, counters, history, config) so that ``fit(config, data, resume=load_checkpoint(path))``
continues exactly where it stopped. The loop writes no files itself and knows nothing of the tuner.

Example:
    >>> from core.config import config_from_dict
    >>> cfg = config_from_dict({"training": {"epochs": 1}, "data": {"synthetic":
    ...     {"num_samples": 200, "seq_len": 16}}, "model": {"hidden_size": 8}})
    >>> result = fit(cfg, reporter=lambda metrics, write_checkpoint: print(metrics["epoch"]))
    1
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.checkpoint import capture_rng, restore_rng, save_checkpoint
from core.config import Config, config_to_dict
from core.cuda_graph import (
    GraphedStep,
    portable_optimizer_state,
    prepare_optimizer,
    release_optimizer,
    unsupported_reason,
)
from core.data import BatchSource, DataSplits, SequenceData, eval_batches, load_data
from core.losses import LossSetupError, TaskLoss, build_loss
from core.metrics import metric_tensors, to_host
from core.models import build_model, count_parameters
from core.plan import warmup_intervals

__all__ = ["fit", "evaluate", "FitResult", "TrainingError", "NonFiniteLossError", "Reporter",
           "resolve_device", "resolve_precision", "build_optimizer", "build_scheduler",
           "optimizer_step", "autocast_context", "forward_backward", "task_loss",
           "imbalance_warning"]

log = logging.getLogger("core")

Reporter = Callable[[dict[str, float], Callable[[str | Path], None]], None]


class TrainingError(RuntimeError):
    """Training cannot go on (bad device, non-finite loss, incompatible resume state)."""


class NonFiniteLossError(TrainingError):
    """The training loss became NaN or inf."""


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


# ---------------------------------------------------------------------------------------------
# Set-up helpers


def resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(f"experiment.device: {spec!r} asked for, but CUDA is not available")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise TrainingError(f"experiment.device: {spec!r} asked for, but only "
                                f"{torch.cuda.device_count()} CUDA device(s) exist")
        return torch.device("cuda", index)
    return torch.device("cpu")


def resolve_precision(precision: str, device: torch.device, model_name: str = "gru") -> str:
    """``auto``: bf16 for the convolutional and attention models on bf16-capable GPUs (flash
    attention needs 16-bit inputs), fp32 (TF32) otherwise, user models included.

    Small recurrent models are bound by kernel launches, and autocast adds weight casts to every
    step: on an H100 the default GRU was never faster in bf16 than in fp32 (README, Measured).
    """
    if precision == "auto":
        if device.type == "cuda" and model_name in ("tcn", "transformer") and \
                torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"
    return precision


def autocast_context(precision: str, device: torch.device):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _configure_torch(cfg: Config, device: torch.device) -> None:
    if cfg.experiment.deterministic:
        # cuBLAS needs a fixed workspace for deterministic results; effective before CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        # Only when it was on (an earlier run in this process): the call imports torch._dynamo
        # and torch._inductor, 1.5 to 3 s of a new worker's start.
        if torch.are_deterministic_algorithms_enabled():
            torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.benchmark = device.type == "cuda"
    if cfg.experiment.num_threads:
        torch.set_num_threads(cfg.experiment.num_threads)
    torch.set_float32_matmul_precision("high")  # TF32 on CUDA for fp32 work; no effect on CPU
    torch.backends.cudnn.allow_tf32 = True


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """Weight matrices decay; biases and normalisation parameters (ndim <= 1) do not."""
    o = cfg.optim
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": o.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if o.name == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov)
    cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
    # One fused kernel for all parameters on CUDA: small models are bound by kernel launches.
    fused = all(p.is_cuda for p in model.parameters()) or None
    return cls(groups, lr=o.lr, betas=tuple(o.betas), eps=o.eps, fused=fused)


def _warmup_then(decay: Callable[[int], float], warmup: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return decay(step - warmup)

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Config, steps_per_epoch: int):
    """Returns the scheduler (or None). It advances once per ``schedule.interval``.

    The horizon is ``epochs`` in epoch mode and ``epochs * steps_per_epoch`` optimizer steps in
    step mode; warmup counts in the same unit and rises linearly to the peak lr.
    """
    s = cfg.schedule
    total = cfg.training.epochs * (steps_per_epoch if s.interval == "step" else 1)
    warmup = min(warmup_intervals(cfg, total), max(total - 1, 0))
    lr_lambda: Callable[[int], float] | None = None
    if s.name == "none":
        if not warmup:
            return None
        lr_lambda = _warmup_then(lambda _: 1.0, warmup)
    elif s.name == "cosine":
        span = max(total - warmup, 1)

        def cosine(step: int) -> float:
            progress = min(step / span, 1.0)
            return s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

        lr_lambda = _warmup_then(cosine, warmup)
    elif s.name == "step":
        lr_lambda = _warmup_then(lambda step: s.gamma ** (step // s.step_size), warmup)
    elif s.name == "onecycle":
        # OneCycleLR divides by its rising phase's length less one step: at least two steps
        # (a warmup of one step raised ZeroDivisionError).
        pct = max(warmup, 2) / total if warmup else 0.3
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.optim.lr, total_steps=max(total, 2), pct_start=min(pct, 0.99),
            cycle_momentum=cfg.optim.name == "sgd")
    elif s.name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=s.plateau_factor, patience=s.plateau_patience)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)


def optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler | None, clip_norm: float) -> None:
    """Unscale (fp16), then clip, then step: clipping must see the true gradients."""
    if scaler is not None:
        scaler.unscale_(optimizer)
    if clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def forward_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                     lengths: torch.Tensor | None, weight: float, precision: str,
                     device: torch.device, scaler: torch.amp.GradScaler | None,
                     loss_fn: TaskLoss) -> torch.Tensor:
    """One micro-batch: forward under autocast, backward of ``loss * weight``; returns the loss.

    ``loss_fn`` (``core.losses``) gets the logits in fp32 and returns the batch's mean loss.
    """
    with autocast_context(precision, device):
        logits = model(x, lengths)
    loss = loss_fn(logits, y)
    scaled = loss * weight if weight != 1.0 else loss
    (scaler.scale(scaled) if scaler is not None else scaled).backward()
    return loss.detach()


@torch.no_grad()
def evaluate(model: nn.Module, split: SequenceData, batch_size: int, device: torch.device,
             precision: str, loss_fn: TaskLoss, *, top_k: int = 3,
             threshold: float | None = None, target_mean: torch.Tensor | None = None,
             target_std: torch.Tensor | None = None) -> dict[str, float]:
    """The split's mean loss and the task's metrics (``core.metrics``), one host sync at the end.

    Logits and targets of the whole split stay on ``device`` until the metrics are computed, so
    every metric is over samples. ``threshold`` (binary) is the one ``f1_best`` applies; None
    finds the F1-optimal one on this split, returned under ``threshold``. Regression metrics are
    de-standardised with ``target_mean``/``target_std`` [D].

    Raises:
        ValueError: the split is empty.
    """
    model.eval()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    outputs, targets = [], []
    for x, y, lengths in eval_batches(split, batch_size, device):
        with autocast_context(precision, device):
            logits = model(x, lengths)
        logits = logits.float()
        loss_sum += loss_fn(logits, y, reduction="sum").double()
        outputs.append(logits)
        targets.append(y)
    if not outputs:
        raise ValueError("evaluate: the split is empty")
    values = metric_tensors(loss_fn.task_type, torch.cat(outputs), torch.cat(targets),
                            top_k=top_k, threshold=threshold, target_mean=target_mean,
                            target_std=target_std)
    return to_host({"loss": loss_sum / len(split), **values})


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


def imbalance_warning(task_type: str, train_y: torch.Tensor, class_names: list[str],
                      metric: str) -> str | None:
    """A warning when ``metric`` is plain accuracy and the train classes are very imbalanced.

    Very imbalanced: the minority class has fewer than 1/9 of the majority's sequences, which for
    two classes means under 10% of them. Accuracy then rewards predicting the majority class.
    """
    if task_type not in ("multiclass", "binary") or not metric.endswith("_accuracy") or \
            metric.endswith("balanced_accuracy") or len(train_y) == 0:
        return None
    counts = torch.bincount(train_y.long().cpu().reshape(-1), minlength=max(len(class_names), 2))
    lo, hi = int(counts.min()), int(counts.max())
    if lo * 9 >= hi:
        return None
    share = lo / int(counts.sum())
    return (f"the minority class is {share:.1%} of the train split and {metric} is plain "
            f"accuracy, which predicting the majority class scores well on; consider "
            f"val_balanced_accuracy, val_macro_f1 or (binary) val_auroc / val_average_precision, "
            f"and task.class_weight / task.pos_weight or loader.sampler: balanced")


def _improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _group_weights(num_batches: int, batch_size: int, n: int, accum: int,
                   drop_last: bool) -> list[float]:
    """Per micro-batch factor n_i / (samples in its accumulation group).

    Summing ``mean_loss_i * factor_i`` over a group gives the mean loss over the group's samples,
    so k micro-batches produce the gradient of one batch of their combined size.
    """
    sizes = [batch_size] * num_batches
    if not drop_last and num_batches and n % batch_size:
        sizes[-1] = n % batch_size
    weights = []
    for g in range(0, num_batches, accum):
        group = sizes[g:g + accum]
        total = sum(group)
        weights += [s / total for s in group]
    return weights


# ---------------------------------------------------------------------------------------------
# The loop


def fit(cfg: Config, data: DataSplits | None = None, *, reporter: Reporter | None = None,
        resume: dict[str, Any] | None = None, progress: bool = False,
        device: torch.device | None = None) -> FitResult:
    """Trains ``cfg``'s model on ``data`` (built from ``cfg.data`` when None).

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
    t_start = time.perf_counter()
    device = device or resolve_device(cfg.experiment.device)
    precision = resolve_precision(cfg.training.precision, device, cfg.model.name)
    _configure_torch(cfg, device)
    if cfg.experiment.deterministic:
        log.info("deterministic algorithms on: cuDNN autotuning off, deterministic kernels only; "
                 "the default GRU measured 6-20%% fewer samples/s on an H100")
    _seed_everything(cfg.experiment.seed)
    if data is None:
        data = load_data(cfg.data, cfg.task)
    for name in ("train", "val"):
        if len(getattr(data, name)) == 0:
            raise TrainingError(f"the {name} split is empty")

    t = cfg.training
    loss_fn = task_loss(cfg, data).to(device)
    _log_task(cfg, data, loss_fn)
    model = build_model(cfg.model, data.num_features, data.num_outputs).to(device)
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
    weights = _group_weights(num_batches, t.batch_size, len(data.train), t.grad_accum_steps,
                             cfg.loader.drop_last)

    ckpt_metric, ckpt_mode = t.checkpoint_metric, t.checkpoint_mode
    es = t.early_stopping
    state: dict[str, Any] = {"epoch": 0, "global_step": 0, "best_metric": None, "best_epoch": 0,
                             "es_best": None, "es_bad_epochs": 0, "history": []}
    if resume is not None:
        _load_resume(resume, cfg, model, optimizer, scheduler, scaler, data_gen, state)
        log.info("resumed after epoch %d (global step %d)", state["epoch"], state["global_step"])
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

    log.info("python %s, torch %s, CUDA %s, cuDNN %s", sys.version.split()[0], torch.__version__,
             torch.version.cuda or "none", torch.backends.cudnn.version() or "none")
    log.info("device %s (%s), precision %s, seed %d, %s parameters, loader %s",
             device, torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
             precision, cfg.experiment.seed, f"{count_parameters(model):,}", cfg.loader.mode)

    def training_state() -> dict[str, Any]:
        return {
            "config": config_to_dict(cfg),
            "model": model.state_dict(),
            "optimizer": portable_optimizer_state(optimizer),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict() if scaler is not None else None,
            "rng": capture_rng(),
            "data_rng": data_gen.get_state(),
            "class_names": list(data.class_names),
            "normalization": {"mean": data.mean, "std": data.std},
            **{k: state[k] for k in ("epoch", "global_step", "best_metric", "best_epoch",
                                     "es_best", "es_bad_epochs", "history")},
        }

    def write_checkpoint(path: str | Path, durable: bool = True) -> None:
        save_checkpoint(training_state(), path, durable)

    stop_reason = "completed"
    epoch_times: list[float] = []
    setup_s = None  # fit() entry to the first training batch: model, data on device, CUDA init
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
            if (i + 1) % t.log_interval == 0:
                _check_finite(loss_sum, epoch, state["global_step"])
                if bar is not None:
                    bar.update(t.log_interval)
                    bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}")
        if bar is not None:
            bar.close()
        train_loss = float(loss_sum.item()) / max(seen, 1)
        _check_finite(loss_sum, epoch, state["global_step"])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_time = time.perf_counter() - t0
        lr = float(optimizer.param_groups[0]["lr"])  # a device tensor when the step is graphed
        val = evaluate(step_model, val_split, t.eval_batch_size, device, precision, loss_fn,
                       top_k=cfg.task.top_k, target_mean=data.target_mean,
                       target_std=data.target_std)
        if scheduler is not None and not per_step:
            scheduler.step(val["loss"]) if plateau else scheduler.step()
        epoch_time = time.perf_counter() - t0
        epoch_times.append(epoch_time)
        metrics = {"epoch": epoch, "train_loss": train_loss,
                   **{f"val_{k}": v for k, v in val.items()}, "lr": lr,
                   "epoch_time_s": epoch_time, "samples_per_s": seen / train_time,
                   "global_step": state["global_step"]}
        if _improved(metrics[ckpt_metric], state["best_metric"], ckpt_mode):
            state["best_metric"], state["best_epoch"] = metrics[ckpt_metric], epoch
        metrics["best_epoch"] = state["best_epoch"]
        metrics["best_metric"] = state["best_metric"] if state["best_metric"] is not None \
            else float("nan")
        if es.patience:
            if _improved(metrics[es.metric], state["es_best"], es.mode, es.min_delta):
                state["es_best"], state["es_bad_epochs"] = metrics[es.metric], 0
            else:
                state["es_bad_epochs"] += 1
        state["epoch"] = epoch
        state["history"].append(dict(metrics))
        shown = "  ".join(f"val_{k} {v:.4f}" for k, v in val.items()
                          if k in ("loss", "threshold") or f"val_{k}" in (ckpt_metric, es.metric)
                          or k in _HEADLINE)
        log.info("epoch %d/%d  train_loss %.4f  %s  lr %.3g  %.1fs  %.0f samples/s", epoch,
                 t.epochs, train_loss, shown, lr, epoch_time, metrics["samples_per_s"])
        if len(epoch_times) == 2 and epoch < t.epochs:
            remaining = (t.epochs - epoch) * sum(epoch_times) / 2
            log.info("projected: %.0f s more, about %.0f s in total", remaining,
                     time.perf_counter() - t_start + remaining)
        if reporter is not None:  # setup_s: a timing of this process, not of the history
            reporter({**metrics, "setup_s": setup_s}, write_checkpoint)
        if es.patience and state["es_bad_epochs"] >= es.patience:
            log.info("early stopping: %s has not improved by %g for %d epochs", es.metric,
                     es.min_delta, es.patience)
            stop_reason = "early_stopping"
            break

    return FitResult(history=state["history"], best_epoch=state["best_epoch"],
                     best_metric=state["best_metric"] if state["best_metric"] is not None
                     else float("nan"), stop_reason=stop_reason, model=model, device=device,
                     precision=precision)


# Metrics shown in each epoch's log line besides the loss and the watched metrics.
_HEADLINE = ("accuracy", "macro_f1", "auroc", "map", "rmse")


def _log_task(cfg: Config, data: DataSplits, loss_fn: TaskLoss) -> None:
    """The task, its loss and weights, and the warning about accuracy on imbalanced classes."""
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
    warning = imbalance_warning(cfg.task.type, data.train.y, data.class_names,
                                cfg.training.checkpoint_metric)
    if warning:
        log.warning("training.checkpoint_metric: %s", warning)


def _check_finite(loss_sum: torch.Tensor, epoch: int, step: int) -> None:
    if not torch.isfinite(loss_sum).item():
        raise NonFiniteLossError(
            f"training loss became NaN or inf in epoch {epoch} (by optimizer step {step}); "
            "lower optim.lr, enable training.grad_clip_norm, or use bf16 instead of fp16")


def _load_resume(resume: dict, cfg: Config, model, optimizer, scheduler, scaler, data_gen,
                 state: dict) -> None:
    saved = resume.get("config", {})
    current = config_to_dict(cfg)
    for section in ("model", "optim", "data", "task"):
        if section == "task" and section not in saved:  # written before task types existed
            continue
        if saved.get(section) != current[section]:
            raise TrainingError(f"cannot resume: the checkpoint's {section} settings differ "
                                "from the config")
    model.load_state_dict(resume["model"])
    optimizer.load_state_dict(resume["optimizer"])
    if scheduler is not None and resume.get("scheduler") is not None:
        scheduler.load_state_dict(resume["scheduler"])
    if scaler is not None and resume.get("scaler") is not None:
        scaler.load_state_dict(resume["scaler"])
    restore_rng(resume["rng"])
    data_gen.set_state(resume["data_rng"])
    for key in ("epoch", "global_step", "best_metric", "best_epoch", "es_best", "es_bad_epochs"):
        state[key] = resume[key]
    state["history"] = [dict(h) for h in resume["history"]]


def _progress_bar(total: int, epoch: int, epochs: int):
    from tqdm import tqdm

    return tqdm(total=total, desc=f"epoch {epoch}/{epochs}", leave=False, unit="batch",
                dynamic_ncols=True)
