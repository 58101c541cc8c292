"""The final model after selection: the chosen config retrained on every non-test sequence
(issue 28 item 2; docs/small-data.md, "The final model: refit").

Selection trains each model on part of the non-test sequences (K-1 of K folds, or 1 -
val_fraction of them). The refit trains on all of them, without a validation split
(``data.cv_folds: 0``, ``data.val_fraction: 0``: the last epoch is the model), for the amount of
training the selection chose: the optimizer steps of the best epoch of the trial's (fold-mean)
curve. The data grow by ``K/(K-1)`` (``1/(1 - val_fraction)``), so does each epoch's step count,
and the epochs shrink by the same factor:

    refit epochs = max(1, round(best_epoch / growth))

The schedule (cosine decay, ``warmup_fraction``) is laid out over the new epoch count, as for
any run. A binary refit has no validation split to choose its decision threshold on, so it
carries its trial's: ``task.threshold`` is set to the trial's ``val_threshold`` at its best epoch
(F1-optimal on the out-of-fold predictions after CV, on the validation split after a holdout
sweep; ``best_epoch_threshold`` reads it from the trial's epoch rows). Pure functions on config
dicts and result rows: no torch, no Ray.
"""

from __future__ import annotations

import copy

__all__ = ["best_epoch_threshold", "data_growth", "refit_config", "refit_epochs"]


def data_growth(cv_folds: int, val_fraction: float) -> float:
    """How many times more sequences the refit trains on than one selection model did:
    ``K/(K-1)`` for ``cv_folds`` K >= 2, else ``1/(1 - val_fraction)``."""
    if cv_folds >= 2:
        return cv_folds / (cv_folds - 1)
    return 1.0 / (1.0 - val_fraction)


def refit_epochs(best_epoch: int, cv_folds: int, val_fraction: float) -> int:
    """Epochs of the refit that keep the optimizer steps of ``best_epoch`` epochs of selection
    (``best_epoch / data_growth``, rounded half to even, at least 1).

    Raises:
        ValueError: ``best_epoch`` < 1.
    """
    if best_epoch < 1:
        raise ValueError(f"best_epoch must be >= 1, got {best_epoch}")
    return max(1, round(best_epoch / data_growth(cv_folds, val_fraction)))


def best_epoch_threshold(history: list[dict], epoch: int) -> float | None:
    """The ``val_threshold`` a trial reported at ``epoch`` (its rows: ``tuning.record``'s
    ``trial_history``), or None when no row of that epoch has one (not binary, or not on disk)."""
    for row in history:
        if int(row.get("epoch", -1)) == epoch and row.get("val_threshold") is not None:
            return float(row["val_threshold"])
    return None


def refit_config(cfg: dict, best_epoch: int,
                 threshold: float | None = None) -> tuple[dict, str]:
    """The refit of ``cfg`` (a full config as a dict, as selection trained it) whose best epoch
    was ``best_epoch``: every non-test sequence, no validation split, ``refit_epochs`` epochs,
    no early stopping. Binary: ``task.threshold`` becomes ``threshold``, the trial's
    ``val_threshold`` at that epoch (a ``task.threshold`` the config fixes already stays; None
    leaves the refit at 0.5). Returns (the new dict, a one-line note saying what was done)."""
    data = cfg.get("data", {})
    folds, val = int(data.get("cv_folds", 0) or 0), float(data.get("val_fraction", 0.15))
    epochs = refit_epochs(best_epoch, folds, val)
    out = copy.deepcopy(cfg)
    out.setdefault("data", {}).update(cv_folds=0, val_fraction=0.0)
    training = out.setdefault("training", {})
    training["epochs"] = epochs
    training.setdefault("early_stopping", {})["patience"] = 0
    chosen = f"{folds}-fold CV" if folds >= 2 else f"a {val:g} validation split"
    note = (f"refit: trains on every non-test sequence (data.cv_folds 0, data.val_fraction 0; "
            f"the last epoch is the model) for {epochs} epochs = best epoch {best_epoch} of "
            f"{chosen} / {data_growth(folds, val):.4g} (the data growth), keeping its "
            "optimizer steps")
    task = out.get("task") or {}
    if task.get("type") == "binary":
        if task.get("threshold") is not None:
            note += f"; binary decision threshold: task.threshold {task['threshold']:g} (fixed)"
        elif threshold is not None:
            task["threshold"] = float(threshold)
            where = "out-of-fold" if folds >= 2 else "validation"
            note += (f"; binary decision threshold: task.threshold {threshold:.6g}, the trial's "
                     f"F1-optimal {where} threshold at its best epoch")
        else:
            note += "; binary decision threshold: 0.5 (the trial recorded none)"
    return out, note
