"""A space sized to its data at pre-flight (``size_to_data: true``; search_spaces/tsc.yaml).

Small data sets need batch sizes and epoch counts that depend on how many sequences there are
(docs/small-data.md): this module chooses them from the data, so that the data file is all a
user gives. The rules, for ``n`` non-test sequences:

- ``data.cv_folds``: the base config's K (5 in configs/tsc.yaml), lowered to the smallest
  class's sequence count for classification (stratified folds need one per fold); below 2,
  cross-validation is off (one validation split).
- Batch sizes: one fold model trains on ``m = n (K-1)/K`` sequences (``n (1 - val_fraction)``
  without CV). The largest batch is the largest power of two with at least 8 steps per epoch,
  ``m / 8``, within [8, 64]; the choices are it, its half and its quarter (at least 4).
- ``max_epochs``: about 1,000 optimizer steps per full trial at the largest batch,
  ``ceil(1000 / ceil(m / b_max))``, within [30, 300]; ASHA's ``grace_period`` a tenth of it
  (of ``--max-epochs`` when given).

Keys the user set (``--set data.cv_folds=...``, ``--max-epochs``, ``--set
training.batch_size=...``) are left as they are. Pure functions and one spec editor; the data
are read once with CV off to count them.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from core.config import config_from_dict, override_keys
from core.data import load_data

__all__ = ["TARGET_STEPS", "Sizes", "derive_sizes", "size_to_data"]

TARGET_STEPS = 1000  # optimizer steps of a full trial at the largest batch size
MIN_STEPS_PER_EPOCH = 8


@dataclass(frozen=True)
class Sizes:
    """What ``derive_sizes`` chose."""

    cv_folds: int
    batch_sizes: list[int]
    max_epochs: int
    grace_period: int
    fit_sequences: int  # sequences one (fold) model trains on


def derive_sizes(n_sequences: int, smallest_class: int | None, cv_folds: int,
                 val_fraction: float) -> Sizes:
    """Sizes for ``n_sequences`` non-test sequences (module docstring's rules).

    Args:
        n_sequences: the non-test sequences (train + validation).
        smallest_class: sequences of the rarest class (None for regression and multilabel).
        cv_folds: the base config's fold count (0: no cross-validation).
        val_fraction: the validation share used when cross-validation is off.
    """
    k = cv_folds
    if k >= 2 and smallest_class is not None:
        k = min(k, smallest_class)
        if k < 2:
            k = 0
    fit = n_sequences * (k - 1) // k if k >= 2 else int(n_sequences * (1 - val_fraction))
    fit = max(fit, 1)
    largest = 2 ** int(math.floor(math.log2(max(fit / MIN_STEPS_PER_EPOCH, 1))))
    largest = min(max(largest, 8), 64)
    sizes = sorted({max(4, largest // 4), max(4, largest // 2), largest})
    steps = math.ceil(fit / largest)
    epochs = min(max(math.ceil(TARGET_STEPS / steps), 30), 300)
    return Sizes(cv_folds=k, batch_sizes=sizes, max_epochs=epochs,
                 grace_period=max(1, epochs // 10), fit_sequences=fit)


def size_to_data(spec: dict, overrides: list[str], max_epochs: int | None) -> list[str]:
    """``size_to_data: true``: sets the spec's ``data.cv_folds``, batch size choices,
    ``max_epochs`` and ASHA grace period from the data (``_sizing.derive_sizes``), except
    the keys the user gave (``overrides``: the ``--set`` KEY=VALUE strings; ``max_epochs``:
    ``--max-epochs``, None when not given); returns the lines the pre-flight prints.

    Raises:
        DataError: the data cannot be read.
    """
    import numpy as np

    base, raw = spec["base"], spec["space"]
    given = set(override_keys(overrides))
    counting = copy.deepcopy(base)
    counting["data"]["cv_folds"] = 0
    cfg = config_from_dict(counting, spec["space"]["base_config"])
    data = load_data(cfg.data, cfg.task)
    n = len(data.train) + len(data.val)
    smallest = None
    if cfg.task.type in ("multiclass", "binary"):
        y = np.concatenate([data.train.y.numpy(), data.val.y.numpy()]).astype(np.int64)
        smallest = int(np.bincount(y, minlength=len(data.class_names)).min())
    folds = int(base["data"].get("cv_folds") or 0)
    sizes = derive_sizes(n, smallest, folds, float(base["data"]["val_fraction"]))
    lines = [f"sized to the data (size_to_data): {n} non-test sequences"
             + (f", smallest class {smallest}" if smallest is not None else "")
             + f"; one model trains on {sizes.fit_sequences}"]
    if "data.cv_folds" in given:
        lines.append(f"  data.cv_folds: {folds} (--set)")
    elif sizes.cv_folds != folds:
        base["data"]["cv_folds"] = sizes.cv_folds
        lines.append(f"  data.cv_folds: {folds} -> {sizes.cv_folds} (the smallest class has "
                     f"{smallest} sequences)")
    else:
        lines.append(f"  data.cv_folds: {folds}")
    batch = (raw.get("params") or {}).get("training.batch_size")
    if isinstance(batch, dict) and batch.get("type") == "categorical" \
            and "training.batch_size" not in given:
        batch["choices"] = sizes.batch_sizes
        lines.append(f"  params.training.batch_size: choices {sizes.batch_sizes}")
    # ASHA's first rung a tenth of the trial, of the derived length or of --max-epochs'.
    grace = sizes.grace_period if max_epochs is None else max(1, max_epochs // 10)
    raw["scheduler"] = {**(raw.get("scheduler") or {}), "grace_period": grace}
    if max_epochs is None:
        raw["max_epochs"] = sizes.max_epochs
        lines.append(f"  max_epochs: {sizes.max_epochs} (about {TARGET_STEPS} optimizer "
                     f"steps at the largest batch), scheduler.grace_period: {grace}")
    else:
        lines.append(f"  max_epochs: {max_epochs} (--max-epochs), scheduler.grace_period: "
                     f"{grace}")
    return lines
