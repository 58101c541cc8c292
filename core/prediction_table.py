"""The predictions table of ``core.predict``: one row per sequence, its columns per task type, and
its file (CSV or Parquet).

One row per sequence, in the file's sequence order, with ``sequence_id`` and:

- multiclass: ``prob_<class>`` per class and ``predicted_label`` (the most probable class);
- binary: ``prob_<positive class>`` and ``predicted_label``: the positive class when the
  probability reaches the run's decision threshold (``core.tasks.decision_threshold``; see
  ``core.predict``), else the negative class; ``threshold``;
- multilabel: ``score_<label>`` per label and ``predicted_labels``: the labels scoring at least
  0.5, joined by ``data.label_separator``;
- regression: ``pred_<target>`` per target, in the targets' original units;
- with targets in the file, ``label`` (``labels`` for multilabel, ``target_<name>`` for several
  regression targets) too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.config import Config
from core.errors import PredictError

__all__ = ["Predictions", "prediction_frame", "write_predictions"]


@dataclass(frozen=True)
class Predictions:
    """What ``core.predict.predict`` returns."""

    frame: Any  # pandas.DataFrame, one row per sequence (the columns: module docstring)
    metrics: dict[str, float] | None  # test_<name> metrics when the file has targets, else None
    logits: torch.Tensor  # [N, outputs] the model's raw outputs (regression: standardised)
    # The sequences the metrics score: the file's test split (its NPZ split array), or None
    # for every sequence.
    scored: np.ndarray | None = None


def prediction_frame(ids: np.ndarray, logits: torch.Tensor, y: torch.Tensor | None, cfg: Config,
                     class_names: list[str], threshold: float | None,
                     target_mean: torch.Tensor | None = None,
                     target_std: torch.Tensor | None = None):
    """The table (a ``pandas.DataFrame``; its columns: module docstring) of a run's outputs.

    Args:
        ids: [N] the sequences' ids, in the file's order.
        logits: [N, outputs] the model's raw outputs (binary: [N, 1]; regression: standardised).
        y: the file's targets as the run encodes them (class indices, 0/1 per label,
            standardised regression targets), or None.
        cfg: the run's config (its task type and ``data.label_separator``).
        class_names: the run's classes, labels or regression targets.
        threshold: binary: the run's decision threshold (None: 0.5).
        target_mean, target_std: regression: [targets] the train split's statistics that
            bring outputs and targets back to their original units.
    """
    import pandas as pd

    task = cfg.task.type
    out: dict[str, Any] = {"sequence_id": ids}
    z = logits.double()
    if task == "multiclass":
        p = z.softmax(-1).numpy()
        for i, name in enumerate(class_names):
            out[f"prob_{name}"] = p[:, i]
        out["predicted_label"] = np.asarray(class_names, dtype=object)[p.argmax(1)]
        if y is not None:
            out["label"] = np.asarray(class_names, dtype=object)[y.numpy()]
    elif task == "binary":
        p = z.reshape(-1).sigmoid().numpy()
        cut = 0.5 if threshold is None else float(threshold)
        out[f"prob_{class_names[1]}"] = p
        out["predicted_label"] = np.where(p >= cut, class_names[1], class_names[0])
        out["threshold"] = cut
        if y is not None:
            out["label"] = np.asarray(class_names, dtype=object)[y.numpy().astype(np.int64)]
    elif task == "multilabel":
        p = z.sigmoid().numpy()
        for i, name in enumerate(class_names):
            out[f"score_{name}"] = p[:, i]
        sep = cfg.data.label_separator
        out["predicted_labels"] = [sep.join(n for n, s in zip(class_names, row, strict=True)
                                            if s >= 0.5) for row in p]
        if y is not None:
            out["labels"] = [sep.join(n for n, v in zip(class_names, row, strict=True) if v)
                             for row in y.numpy()]
    else:
        mean = target_mean.double().numpy()
        std = target_std.double().numpy()
        pred = z.numpy() * std + mean
        for i, name in enumerate(class_names):
            out[f"pred_{name}"] = pred[:, i]
        if y is not None:
            true = y.double().numpy() * std + mean
            for i, name in enumerate(class_names):
                out["label" if len(class_names) == 1 else f"target_{name}"] = true[:, i]
    return pd.DataFrame(out)


def write_predictions(predictions: Predictions, out: str | Path) -> None:
    """Writes the table as CSV (``.csv``) or Parquet (``.parquet``/``.pq``), atomically.

    Raises:
        PredictError: another suffix.
    """
    from core.files import atomic_write_bytes

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        data = predictions.frame.to_csv(index=False).encode()
    elif suffix in (".parquet", ".pq"):
        import io

        buf = io.BytesIO()
        predictions.frame.to_parquet(buf, index=False)
        data = buf.getvalue()
    else:
        raise PredictError(f"{out}: unknown output format (expected .csv or .parquet)")
    atomic_write_bytes(out, data)
