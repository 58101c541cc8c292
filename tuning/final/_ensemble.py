"""An ensemble of a sweep's best trials: ``python -m tuning.export DIR --out e.yaml --ensemble 5``.

The candidates are the best finished trials by the sweep's metric (distinct configurations, at
most ``2 * N``); their out-of-fold outputs at their best epoch (a cross-validated sweep's
checkpoints hold them, ``core.cv.OOF_KEY``) are combined by greedy ensemble selection with
replacement (``core.ensemble.greedy_selection``; Caruana et al., ICML 2004) optimising the sweep's
metric, computed by ``core.metrics`` (``val_loss``: the task's loss) on the weighted mean of the
members' probabilities (regression: outputs). When more than N candidates get a weight, the
selection is run again on the N heaviest, so the file has at most N members.

The file (``members``: each one's trial, weight and refit config, ``tuning.final``) trains with
``python -m core.train --ensemble FILE --output-dir DIR`` (``core.ensemble_run``). Binary: its
``threshold`` is the decision threshold of the ensemble's prediction, the F1-optimal one of its
weighted out-of-fold probabilities (``ensemble_threshold``; ``task.threshold`` when the sweep's
config fixes one); each member's refit carries its own trial's threshold.

A holdout sweep's trials keep no validation outputs, so it cannot be ensembled: the export says
so (run the sweep with ``data.cv_folds``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import yaml

from core.cli import python_command
from core.config import config_from_dict, config_to_dict
from core.files import atomic_write_text
from tuning.final._refit import best_epoch_threshold, refit_config
from tuning.record import (
    SPEC_FILE,
    latest_checkpoint,
    read_spec,
    space_of,
    trial_history,
    trial_key,
    trial_rows,
)
from tuning.space import SearchSpace, trial_config
from tuning.study import load_study

__all__ = ["ENSEMBLE_ROUNDS", "ensemble_threshold", "export_ensemble"]

log = logging.getLogger("tuning")

ENSEMBLE_ROUNDS = 50  # greedy rounds (auto-sklearn's default): weights are multiples of 1/50


def ensemble_threshold(probs, weights, y) -> float:
    """The binary decision threshold of an ensemble: the F1-optimal threshold
    (``core.metrics.best_f1_threshold``: F1 of ``p >= t``, ties to the highest t, 0.5 without a
    positive) of its prediction ``p``, the weighted mean of the members' probabilities.

    Args:
        probs: [M, N] or [M, N, 1] the M members' positive-class probabilities of N sequences
            (out-of-fold after a cross-validated sweep).
        weights: [M] non-negative member weights summing to 1 (``greedy_selection``'s).
        y: [N] 0/1 targets.
    """
    import numpy as np
    import torch

    from core.metrics import best_f1_threshold

    mean = np.tensordot(np.asarray(weights, dtype=np.float64),
                        np.asarray(probs, dtype=np.float64), axes=1)
    return float(best_f1_threshold(torch.from_numpy(mean).reshape(-1),
                                   torch.as_tensor(np.asarray(y)).reshape(-1).long()))


def export_ensemble(exp_dir: Path, out: Path, size: int,
                    space: SearchSpace | None = None) -> dict:
    """Writes the ensemble file of at most ``size`` members to ``out``; returns
    ``{"members": [(trial, weight), ...], "score": ensemble OOF metric, "best_single": ...,
    "threshold": binary decision threshold or None}``. ``space``: the sweep's space as its
    driver holds it (None: parsed from its sweep.yaml).

    Raises:
        ValueError: ``size`` < 1, no finished trial, or trials without out-of-fold outputs (a
            holdout sweep).
    """
    import numpy as np
    import torch

    from core.cv import combine_outputs
    from core.data import load_data
    from core.ensemble import greedy_selection
    from core.loop import task_loss
    from core.metrics import compute_metrics

    if size < 1:
        raise ValueError(f"--ensemble: at least 1 member, got {size}")
    exp_dir = exp_dir.resolve()
    spec = read_spec(exp_dir)
    if space is None:
        space = space_of(spec, str(exp_dir / SPEC_FILE))
    study = load_study(exp_dir)
    pick = max if space.mode == "max" else min
    own = [t for t in study.get_trials(deepcopy=False) if "warm_start_from" not in t.user_attrs
           and t.state.name in ("COMPLETE", "PRUNED") and t.intermediate_values]
    own.sort(key=lambda t: pick(t.intermediate_values.values()), reverse=space.mode == "max")
    rows = {r["number"]: r for r in trial_rows(study, exp_dir, space)}
    candidates, seen = [], set()
    for t in own:
        params = t.user_attrs.get("params") or dict(t.params)
        key = json.dumps(params, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            candidates.append((t, params))
    if not candidates:
        raise ValueError(f"{exp_dir}: no finished trial with a finite {space.metric}")

    configs, outputs, passed = [], [], []
    for t, params in candidates:
        name = trial_key(t.number)
        cfg = trial_config(spec["base"], params, space.max_epochs, f"trial {name}",
                           space.cpus_per_trial)
        if cfg.data.cv_folds < 2:
            raise ValueError(
                f"{exp_dir}: trial {name} has no out-of-fold outputs: an ensemble needs a "
                "cross-validated sweep (data.cv_folds >= 2; a holdout sweep's trials keep no "
                "validation outputs)")
        best_epoch = rows[t.number]["best_epoch"] or 1
        _, state, _ = latest_checkpoint(exp_dir, name)
        oof = None if state is None else state.get("oof")
        if oof is None or state.get("best_epoch") != best_epoch:
            # A trial stopped before its first checkpoint, or whose newest checkpoint predates
            # its best epoch (trials save every rung and their last epoch, so rarely): its
            # best epoch's out-of-fold outputs are not on disk. The next candidate stands in.
            why = "no checkpoint" if state is None else \
                f"no out-of-fold outputs of its best epoch {best_epoch}"
            passed.append(f"{name} ({why})")
            continue
        configs.append((name, cfg, best_epoch,
                        best_epoch_threshold(trial_history(exp_dir, name), best_epoch)))
        outputs.append(oof.float())
        if len(configs) == 2 * size:
            break
    if passed:
        log.info("ensemble: passed over %s", ", ".join(passed))
    if not configs:
        raise ValueError(f"{exp_dir}: no candidate trial has its best epoch's out-of-fold "
                         f"outputs on disk (passed over {', '.join(passed)})")

    cfg0 = configs[0][1]
    data = load_data(cfg0.data, cfg0.task)
    y = data.train.y
    if any(len(o) != len(y) for o in outputs):
        raise ValueError(f"{exp_dir}: the trials' out-of-fold outputs do not cover the same "
                         f"{len(y)} training sequences (did the trials search data.* keys?)")
    task = cfg0.task.type
    metric = space.metric.removeprefix("val_")
    loss_fn = task_loss(cfg0, data)

    def to_space(logits: torch.Tensor) -> np.ndarray:  # what is averaged: probabilities
        return combine_outputs(task, [logits]).exp().numpy() if task == "multiclass" else \
            logits.sigmoid().numpy() if task in ("binary", "multilabel") else logits.numpy()

    def score(mean: np.ndarray, _targets) -> float:
        p = torch.from_numpy(mean).float()
        logits = p.clamp_min(1e-12).log() if task == "multiclass" else p if \
            task == "regression" else torch.logit(p.clamp(1e-7, 1 - 1e-7))
        if metric == "loss":
            return float(loss_fn(logits, y, reduction="sum")) / len(y)
        return compute_metrics(task, logits, y, top_k=cfg0.task.top_k,
                               threshold=cfg0.task.threshold, target_mean=data.target_mean,
                               target_std=data.target_std)[metric]

    preds = np.stack([to_space(o) for o in outputs])
    weights = greedy_selection(preds, y, score, space.mode, rounds=ENSEMBLE_ROUNDS)
    keep = np.arange(len(configs))
    if (weights > 0).sum() > size:  # select again among the N heaviest
        keep = np.sort(np.argsort(-weights, kind="stable")[:size])
        weights = greedy_selection(preds[keep], y, score, space.mode, rounds=ENSEMBLE_ROUNDS)
    ens_score = score(np.tensordot(weights, preds[keep], axes=1), y)
    single = score(preds[0], y)
    threshold = None
    if task == "binary":
        threshold = cfg0.task.threshold if cfg0.task.threshold is not None else \
            ensemble_threshold(preds[keep], weights, y)

    members = []
    for i, w in zip(keep, weights, strict=True):
        if w <= 0:
            continue
        name, cfg, best_epoch, trial_threshold = configs[i]
        raw, note = refit_config(config_to_dict(cfg), best_epoch, trial_threshold)
        config_from_dict(raw, str(out))  # raises ConfigError if invalid
        members.append({"trial": name, "weight": round(float(w), 6), "refit": note,
                        "config": raw})
    header = (f"# Ensemble of sweep {exp_dir.name} ({exp_dir}): greedy selection with "
              f"replacement (Caruana et al. 2004), {ENSEMBLE_ROUNDS} rounds, over the "
              f"out-of-fold outputs of its best {len(configs)} distinct trials\n"
              f"# out-of-fold {space.metric}: ensemble {ens_score:.6g}, best single trial "
              f"{configs[0][0]} {single:.6g}\n"
              "# each member is its trial's refit (every non-test sequence, no validation "
              "split)\n"
              + ("" if not passed else "# passed over (their best epoch's out-of-fold outputs "
                 f"are not on disk): {', '.join(passed)}\n")
              + ("" if threshold is None else
                 f"# binary decision threshold {threshold:.6g}: "
                 + ("task.threshold, fixed by the sweep's config" if cfg0.task.threshold
                    is not None else "F1-optimal on the ensemble's out-of-fold prediction")
                 + " (its test f1_best and predicted labels apply it)\n") +
              f"# exported {datetime.now().isoformat(timespec='seconds')}\n"
              f"# train it: {python_command()} -m core.train --ensemble {out} --output-dir DIR\n")
    doc = {"task": task, "metric": space.metric, "oof_score": float(ens_score),
           **({} if threshold is None else {"threshold": float(threshold)}),
           "members": members}
    atomic_write_text(out, header + yaml.safe_dump(doc, sort_keys=False))
    return {"members": [(m["trial"], m["weight"]) for m in members], "score": float(ens_score),
            "best_single": float(single), "threshold": threshold}
