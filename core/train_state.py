"""The complete training state of a run: what ``fit``'s ``write_checkpoint`` saves and what
``fit(resume=load_checkpoint(path))`` restores, so that a resumed run continues bit for bit.

A state holds the config, the model, optimizer, scheduler and AMP scaler states, every RNG
(``core.checkpoint.capture_rng``) and the data order's generator, the class names and the
normalisation, and the loop's counters (``new_counters``): the epoch, the optimizer step, the best
epoch and metric, early stopping's best and count of epochs without improvement, and the history.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.checkpoint import capture_rng, restore_rng
from core.config import Config, config_to_dict
from core.cuda_graph import portable_optimizer_state
from core.data import DataSplits
from core.errors import TrainingError

__all__ = ["new_counters", "training_state", "restore_state", "data_info"]


def new_counters() -> dict[str, Any]:
    """The loop's counters before the first epoch (``es_best_val_loss``: the validation loss at
    early stopping's best, which breaks ties on its metric)."""
    return {"epoch": 0, "global_step": 0, "best_metric": None, "best_epoch": 0, "es_best": None,
            "es_best_val_loss": None, "es_bad_epochs": 0, "history": []}


def data_info(data: DataSplits) -> dict[str, Any]:
    """What a checkpoint records of its training data for predictions on new data: the task,
    the feature names, the padded length T and whether lengths vary, the regression targets'
    train mean and std ([D] float32, None otherwise), and the train split's size and class
    (multiclass) or positive (binary, multilabel) counts, which the loss's balanced weights
    follow."""
    y = data.train.y.detach().cpu()
    if data.task == "multiclass":
        positives = torch.bincount(y.long(), minlength=len(data.class_names))
    elif data.task in ("binary", "multilabel"):
        positives = y.reshape(len(y), -1).sum(0).round().long()
    else:
        positives = None
    return {"task": data.task, "feature_names": [str(f) for f in data.feature_names],
            "seq_len": int(data.train.x.shape[1]),
            "variable_lengths": data.train.lengths is not None,
            "target_mean": data.target_mean, "target_std": data.target_std,
            # the train split's class / label counts: 'balanced' loss weights come from them
            "train_size": len(y), "train_positives": positives}


def training_state(cfg: Config, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler,
                   scaler: torch.amp.GradScaler | None, data_gen: torch.Generator,
                   data: DataSplits, counters: dict[str, Any]) -> dict[str, Any]:
    """The state to save now: tensors and plain values only (``weights_only`` loads)."""
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
        # what new data must match and how outputs return to units (core.predict)
        "data_info": data_info(data),
        **{k: counters[k] for k in new_counters()},
    }


def restore_state(resume: dict[str, Any], cfg: Config, model: nn.Module,
                  optimizer: torch.optim.Optimizer, scheduler,
                  scaler: torch.amp.GradScaler | None,
                  data_gen: torch.Generator) -> dict[str, Any]:
    """Loads ``resume`` into the model, optimizer, scheduler, scaler and generators, and returns
    its counters.

    Raises:
        TrainingError: the checkpoint's model, optim, data or task settings differ from ``cfg``.
    """
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
    counters = new_counters()
    for key in counters:
        # es_best_val_loss is absent from checkpoints written before ties were broken by
        # val_loss: no tie-break for early stopping then
        counters[key] = resume.get(key) if key == "es_best_val_loss" else resume[key]
    counters["history"] = [dict(h) for h in resume["history"]]
    return counters
