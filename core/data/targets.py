"""Targets per task type: raw labels or values in, the tensors' ``y`` and names out.

======================  ===========================================  ======================
task.type               accepted raw targets                         encoded ``y``
======================  ===========================================  ======================
multiclass              [N] labels: strings, integers, whole floats  int64 [N] class index
binary                  [N] with exactly two values                  float 0/1 [N]
multilabel              [N, K] of 0/1 (or true/false), or [N] lists   float 0/1 [N, K]
regression              [N] or [N, D] numbers                         float [N, D]
======================  ===========================================  ======================

Faults raise ``DataError`` naming the key the targets came from (``data.label_column``, ...;
``task.type`` for an NPZ file's ``y`` array) and saying what would fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import DataConfig, TaskConfig
from core.data.errors import DataError, shown
from core.data.files import RawData

__all__ = ["Targets", "encode_targets"]


@dataclass
class Targets:
    y: np.ndarray  # see the module docstring; not yet standardised
    names: list[str]  # DataSplits.class_names
    strata: np.ndarray  # [N] int64 class index for stratified splits; zeros when not classes


def _shape(y: np.ndarray) -> str:
    return "[" + ", ".join(map(str, y.shape)) + "]"


def _is_numeric(y: np.ndarray) -> bool:
    return np.issubdtype(y.dtype, np.number) or y.dtype == bool


def _as_float(y: np.ndarray) -> np.ndarray | None:
    """``y`` as float64 when every value is a number (object arrays included), else None."""
    if y.dtype == bool:
        return y.astype(np.float64)
    if np.issubdtype(y.dtype, np.number):
        return y.astype(np.float64)
    try:
        return y.astype(np.float64)
    except (TypeError, ValueError):
        return None


def _text(value) -> str:
    """A label as text; a whole float (1.0, as a CSV column with gaps holds) reads as 1."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _label_text(values: np.ndarray) -> list[str]:
    return [_text(v) for v in values.tolist()]


def _classes(raw: RawData, what_type: str) -> np.ndarray:
    """``raw.y`` checked to be one class label per sequence (whole floats become integers)."""
    o, y = raw.origin, raw.y
    if y.ndim != 1:
        hint = " ([N, K] of 0/1 is task.type multilabel; [N, D] numbers, regression)"
        raise DataError(o.label_key, f"{o.label_what} has shape {_shape(y)}: task.type "
                                     f"{what_type} needs [N] labels{hint}")
    if _is_numeric(y) and y.dtype != bool:
        f = y.astype(np.float64)
        if not np.isfinite(f).all():
            raise DataError(o.label_key, f"{o.label_what} holds NaN or inf labels")
        if np.issubdtype(y.dtype, np.floating):
            frac = f[f != np.round(f)]
            if frac.size:
                raise DataError(o.label_key, f"{o.label_what} holds non-integer numbers such as "
                                             f"{frac[0]:g}: task.type {what_type} needs class "
                                             "labels; use task.type: regression for real-valued "
                                             "targets")
            y = f.astype(np.int64)
    elif y.dtype == object:
        if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in y.tolist()):
            raise DataError(o.label_key, f"{o.label_what} has missing labels")
        if any(isinstance(v, float) and not float(v).is_integer() for v in y.tolist()):
            raise DataError(o.label_key, f"{o.label_what} holds non-integer numbers: task.type "
                                         f"{what_type} needs class labels")
    return y


def _multiclass(raw: RawData) -> Targets:
    y = _classes(raw, "multiclass")
    if y.dtype == object:
        y = np.asarray(_label_text(y))
    classes, encoded = np.unique(y, return_inverse=True)
    names = [str(c) for c in classes]
    if len(names) < 2:
        raise DataError(raw.origin.label_key, f"{raw.origin.label_what}: need at least 2 "
                                              f"classes, found {names}")
    encoded = encoded.reshape(-1).astype(np.int64)
    return Targets(encoded, names, encoded)


def _binary(raw: RawData, task: TaskConfig) -> Targets:
    o = raw.origin
    y = _classes(raw, "binary")
    text = np.asarray(_label_text(y.astype(object)))
    values = sorted(set(text.tolist()))
    if len(values) != 2:
        raise DataError(o.label_key, f"{o.label_what} has {len(values)} distinct values "
                                     f"({', '.join(values[:6])}{', ...' if len(values) > 6 else ''}"
                                     "): task.type binary needs exactly two")
    if task.positive_class is not None:
        # YAML reads `1` and `true` as numbers and booleans; labels are compared as text.
        wanted = str(task.positive_class)
        matches = [v for v in values if v == wanted] or \
            [v for v in values if v.lower() == wanted.lower()]
        if not matches:
            raise DataError("task.positive_class", f"{task.positive_class!r} is not one of the "
                                                   f"two labels in {o.label_what}: {values}")
        positive = matches[0]
    else:
        lower = {v.lower(): v for v in values}
        known = [("0", "1"), ("false", "true")]
        pair = next((p for p in known if set(lower) == set(p)), None)
        if pair is None:
            raise DataError("task.positive_class", f"cannot tell which label in "
                                                   f"{o.label_what} is positive ({values}): set "
                                                   "task.positive_class")
        positive = lower[pair[1]]
    negative = next(v for v in values if v != positive)
    encoded = (text == positive).astype(np.int64)
    return Targets(encoded.astype(np.float32), [negative, positive], encoded)


def _zero_one(raw: RawData, y: np.ndarray) -> np.ndarray:
    o = raw.origin
    f = _as_float(y)
    if f is None:
        lower = np.char.lower(y.astype(str))
        if np.isin(lower, ["true", "false", "0", "1"]).all():
            return np.isin(lower, ["true", "1"]).astype(np.float32)
        bad = y[~np.isin(lower, ["true", "false", "0", "1"])].reshape(-1)[0]
        raise DataError(o.label_key, f"{o.label_what} holds {shown(bad)}: task.type multilabel "
                                     "needs 0/1 (or true/false) per label")
    bad = ~np.isin(f, [0.0, 1.0])
    if bad.any():
        raise DataError(o.label_key, f"{o.label_what} holds {f[bad][0]:g}: task.type multilabel "
                                     "needs 0/1 (or true/false) per label")
    return f.astype(np.float32)


def _multilabel(raw: RawData, cfg: DataConfig) -> Targets:
    o, y = raw.origin, raw.y
    if raw.label_lists:
        lists = []
        for v in y.tolist():
            if v is None or (isinstance(v, float) and np.isnan(v)):
                lists.append([])
                continue
            lists.append([s.strip() for s in _text(v).split(cfg.label_separator)
                          if s.strip()])
        names = sorted({s for row in lists for s in row})
        index = {s: k for k, s in enumerate(names)}
        out = np.zeros((len(lists), len(names)), np.float32)
        for i, row in enumerate(lists):
            out[i, [index[s] for s in row]] = 1.0
    else:
        if y.ndim != 2:
            raise DataError(o.label_key, f"{o.label_what} has shape {_shape(y)}: task.type "
                                         "multilabel needs [N, K] of 0/1")
        out = _zero_one(raw, y)
        names = raw.label_names or [f"l{k}" for k in range(y.shape[1])]
        if len(names) != y.shape[1]:
            raise DataError("data.path", f"array 'label_names' has {len(names)} names for "
                                         f"K = {y.shape[1]} labels")
    if len(names) < 2:
        raise DataError(o.label_key, f"{o.label_what}: task.type multilabel needs at least 2 "
                                     f"labels, found {names} (one label is task.type binary)")
    return Targets(out, names, np.zeros(len(out), np.int64))


def _regression(raw: RawData) -> Targets:
    o, y = raw.origin, raw.y
    if y.ndim not in (1, 2):
        raise DataError(o.label_key, f"{o.label_what} has shape {_shape(y)}: task.type "
                                     "regression needs [N] or [N, D] numbers")
    f = _as_float(y)
    if f is None or y.dtype == bool:
        sample = next((v for v in y.reshape(-1).tolist() if _as_float(np.asarray([v])) is None),
                      y.reshape(-1)[0])
        raise DataError(o.label_key, f"{o.label_what} holds {shown(sample)}: task.type regression "
                                     "needs numbers (class labels are task.type multiclass or "
                                     "binary)")
    f = f.reshape(len(f), -1)
    bad = ~np.isfinite(f)
    if bad.any():
        raise DataError(o.label_key, f"{o.label_what} holds {int(bad.sum())} NaN/inf target "
                                     f"values (first at sequence {int(np.argwhere(bad)[0][0])})")
    names = raw.label_names or (["y"] if f.shape[1] == 1 else
                                [f"y{d}" for d in range(f.shape[1])])
    if len(names) != f.shape[1]:
        raise DataError("data.path", f"array 'target_names' has {len(names)} names for "
                                     f"D = {f.shape[1]} targets")
    return Targets(f, names, np.zeros(len(f), np.int64))


def encode_targets(raw: RawData, cfg: DataConfig, task: TaskConfig) -> Targets:
    """Checks ``raw.y`` against ``task.type`` and encodes it (see the module docstring)."""
    if task.type == "multiclass":
        return _multiclass(raw)
    if task.type == "binary":
        return _binary(raw, task)
    if task.type == "multilabel":
        return _multilabel(raw, cfg)
    return _regression(raw)
