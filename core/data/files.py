"""Users' files as read: NPZ arrays and long-format tables (CSV, Parquet), not yet encoded.

``read_npz`` and ``read_long`` return a ``RawData``: features padded to [N, T, F], the raw
targets, and the optional split and group assignment, together with the config keys and the words
that name each of them in error messages (an NPZ names its arrays, a table its columns).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.config import DataConfig, TaskConfig
from core.data.errors import DataError, shown

__all__ = ["RawData", "Origin", "check_finite", "read_npz", "read_long", "label_columns"]


@dataclass
class Origin:
    """Where targets, split and groups came from: the key to blame and how to name them."""

    label_key: str = "task.type"  # config key of target faults
    label_what: str = "the targets"  # "array 'y'", "column 'label'"
    split_key: str = "data.path"
    split_what: str = "array 'split'"
    group_key: str = "data.path"
    group_what: str = "array 'groups'"
    row_offset: int | None = None  # CSV: row number of data row 0 (header is row 1); else None


@dataclass
class RawData:
    """A data set before its targets are encoded and before it is split."""

    x: np.ndarray  # [N, T, F] float32, zero beyond each length
    y: np.ndarray  # [N] labels or values, or [N, K] / [N, D]; long multilabel: [N] label lists
    lengths: np.ndarray | None  # [N] int64, or None when every sequence spans T steps
    feature_names: list[str]
    ids: np.ndarray  # [N] sequence ids (NPZ: the 'ids' array or row numbers)
    split: np.ndarray | None = None  # [N] "train" / "val" / "test", or None
    groups: np.ndarray | None = None  # [N] group of each sequence, or None
    label_names: list[str] | None = None  # multilabel labels / regression targets, if named
    label_lists: bool = False  # y holds separator-joined label lists (long multilabel)
    ignored_columns: list[str] = field(default_factory=list)  # non-numeric, not used
    origin: Origin = field(default_factory=Origin)
    has_labels: bool = True  # False: a file read with labels=False had none (y: zeros)


# ---------------------------------------------------------------------------------------------
# NPZ and arrays


def check_finite(x: np.ndarray, lengths: np.ndarray | None, key: str, what: str) -> None:
    """Raises ``DataError(key)`` when ``x`` [N, T, F] holds NaN or inf within each sequence's
    ``lengths`` [N] (all T when None), naming ``what`` and the first sequence, step, feature."""
    valid = None if lengths is None else np.arange(x.shape[1])[None, :] < lengths[:, None]
    bad = ~np.isfinite(x if valid is None else np.where(valid[..., None], x, 0.0))
    if bad.any():
        i, step, feat = np.argwhere(bad)[0]
        raise DataError(key, f"{what} has {int(bad.sum())} NaN/inf values (first at sequence "
                             f"{i}, step {step}, feature {feat})")


def read_npz(path: Path, *, labels: bool = True) -> RawData:
    """Reads ``X`` [N, T, F], ``y`` and the optional ``lengths``, ``split``, ``groups``, ``ids``,
    ``label_names`` and ``target_names`` arrays. Raises ``DataError`` (``data.path``).
    ``labels=False``: ``y`` may be missing (new data to predict; ``has_labels`` False)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except ValueError as exc:
        raise DataError("data.path", f"cannot read as NPZ without pickle ({exc})") from None
    except Exception as exc:  # zipfile.BadZipFile, OSError, ...
        raise DataError("data.path", f"not a readable NPZ file ({exc})") from None
    has_labels = "y" in arrays
    for key in ("X", "y") if labels else ("X",):
        if key not in arrays:
            raise DataError("data.path", f"missing array {key!r} (found {sorted(arrays)})")
    x, lengths = arrays["X"], arrays.get("lengths")
    y = arrays["y"] if has_labels else np.zeros(x.shape[0] if x.ndim else 0)
    if x.ndim != 3:
        raise DataError("data.path", f"array 'X' must be [N, T, F], got shape {x.shape}")
    n = x.shape[0]
    if y.ndim == 0 or y.shape[0] != n:
        raise DataError("data.path", f"array 'y' must have N = {n} rows like 'X', got shape "
                                     f"{y.shape}")
    if lengths is not None:
        if lengths.shape != (n,) or not np.issubdtype(lengths.dtype, np.integer):
            raise DataError("data.path", "array 'lengths' must be [N] integers")
        outside = (lengths < 1) | (lengths > x.shape[1])
        if outside.any():
            shown_at = ", ".join(f"[{i}] = {lengths[i]}" for i in np.flatnonzero(outside)[:5])
            raise DataError("data.path", f"array 'lengths' must lie in [1, T={x.shape[1]}]; "
                                         f"{int(outside.sum())} entries do not: {shown_at}"
                                         + (" ..." if outside.sum() > 5 else ""))
    if not np.issubdtype(x.dtype, np.number):
        raise DataError("data.path", f"array 'X' must be numeric, got {x.dtype}")
    for name in ("split", "groups", "ids"):
        if name in arrays and arrays[name].shape != (n,):
            raise DataError("data.path", f"array {name!r} must be [N] = [{n}], got shape "
                                         f"{arrays[name].shape}")
    x = x.astype(np.float32)
    if lengths is not None:
        x[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = 0.0
    check_finite(x, lengths, "data.path", "array 'X'")
    names = None
    for key in ("label_names", "target_names"):
        if key in arrays:
            names = [str(v) for v in arrays[key].reshape(-1)]
    return RawData(x, y, lengths, [f"f{i}" for i in range(x.shape[2])],
                   arrays["ids"] if "ids" in arrays else np.arange(n),
                   split=arrays.get("split"), groups=arrays.get("groups"), label_names=names,
                   origin=Origin(label_key="task.type", label_what="array 'y'"),
                   has_labels=has_labels)


# ---------------------------------------------------------------------------------------------
# Long format: one row per (sequence, time step)


def _rows(mask: np.ndarray, offset: int | None) -> str:
    """The first few rows where ``mask`` holds, as a user counts them (CSV: as an editor numbers
    the file's lines; Parquet: from 0). No brackets: messages put it in theirs."""
    idx = np.flatnonzero(mask)
    shown = [str(i + (offset or 0)) for i in idx[:5]]
    more = f" and {len(idx) - 5} more" if len(idx) > 5 else ""
    return f"row{'s' if len(idx) > 1 else ''} {', '.join(shown)}{more}" + \
        (", counting the header as row 1" if offset else "")


def label_columns(cfg: DataConfig, task: TaskConfig) -> list[str]:
    """The columns a long table's targets come from (label_columns, target_columns or
    label_column, by task type)."""
    if task.type == "multilabel" and cfg.label_columns:
        return list(cfg.label_columns)
    if task.type == "regression" and cfg.target_columns:
        return list(cfg.target_columns)
    return [cfg.label_column]


def _check_columns(df, cfg: DataConfig, task: TaskConfig, labels: bool = True) -> list[str]:
    """Required columns exist; returns the columns that are never features."""
    cols = set(df.columns)

    def need(key: str, col) -> None:
        if col not in cols:
            raise DataError(key, f"column {col!r} not in the file (columns: "
                                 f"{', '.join(map(str, df.columns))})")

    need("data.id_column", cfg.id_column)
    need("data.time_column", cfg.time_column)
    reserved = [cfg.id_column, cfg.time_column]
    if not labels:
        pass  # new data to predict: targets are optional (read_long's labels=False)
    elif task.type == "multilabel" and cfg.label_columns:
        for col in cfg.label_columns:
            need("data.label_columns", col)
        reserved += cfg.label_columns
    elif task.type == "regression" and cfg.target_columns:
        for col in cfg.target_columns:
            need("data.target_columns", col)
        reserved += cfg.target_columns
    else:
        need("data.label_column", cfg.label_column)
    for key in ("split_column", "group_column"):
        col = getattr(cfg, key)
        if col is not None:
            need(f"data.{key}", col)
            reserved.append(col)
    # A label column is never a feature, even when the targets come from other columns.
    return reserved + [c for c in (cfg.label_column,) if c in cols]


def _time_order(df, col: str, offset: int | None):
    """The time column as numbers or datetimes. Raises ``DataError`` (``data.time_column``, with
    the rows) for true/false, text that is neither numbers nor dates, a mix of the two, empty
    cells and infinite numbers."""
    import pandas as pd

    t = df[col]
    if pd.api.types.is_bool_dtype(t):
        raise DataError("data.time_column", f"column {col!r} holds true/false, not times")
    if not (pd.api.types.is_numeric_dtype(t) or pd.api.types.is_datetime64_any_dtype(t)):
        numbers = pd.to_numeric(t, errors="coerce")
        not_numbers = numbers.isna() & t.notna()
        if not not_numbers.any():
            t = numbers  # numbers stored as text (a string-typed Parquet column)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
                parsed = pd.to_datetime(t, errors="coerce")
                if (parsed.isna() & t.notna()).any():
                    parsed = pd.to_datetime(t, errors="coerce", format="mixed")
            not_dates = parsed.isna() & t.notna()
            # Read as whichever kind most values are; the rows that are not are listed.
            bad, kind = ((not_numbers, "numbers") if not_numbers.sum() < not_dates.sum()
                         else (not_dates, "dates"))
            if bad.any():
                raise DataError("data.time_column", f"column {col!r} holds {kind} but "
                                                    f"{shown(t[bad].iloc[0])} on "
                                                    f"{_rows(bad.to_numpy(), offset)}; times "
                                                    "are numbers or dates, one kind per column")
            t = parsed
    missing = t.isna().to_numpy()
    if missing.any():
        raise DataError("data.time_column", f"column {col!r} is empty on "
                                            f"{_rows(missing, offset)}")
    if pd.api.types.is_numeric_dtype(t):
        infinite = np.isinf(t.to_numpy(dtype=np.float64))
        if infinite.any():
            raise DataError("data.time_column", f"column {col!r} is infinite on "
                                                f"{_rows(infinite, offset)}")
    return t


def read_long(path: Path, cfg: DataConfig, task: TaskConfig, fmt: str, *,
              labels: bool = True) -> RawData:
    """Reads a CSV or Parquet table with one row per time step of each sequence.

    Rows are grouped by ``data.id_column`` and ordered by ``data.time_column`` (numbers, or
    dates and times given as text, which are parsed). Targets, split and group are constant
    within a sequence. Raises ``DataError`` naming the key of the faulty column and its rows.
    ``labels=False``: the target columns may be missing (new data to predict; ``has_labels``
    then False, ``y`` zeros).
    """
    import pandas as pd

    try:
        df = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except Exception as exc:
        raise DataError("data.path", f"cannot read as {fmt} ({exc})") from None
    offset = 2 if fmt == "csv" else None
    if df.empty:
        raise DataError("data.path", "no rows")
    df = df.reset_index(drop=True)
    has_labels = all(c in df.columns for c in label_columns(cfg, task))
    reserved = _check_columns(df, cfg, task, labels or has_labels)
    ignored: list[str] = []
    if cfg.feature_columns is not None:
        missing = [c for c in cfg.feature_columns if c not in df.columns]
        if missing:
            raise DataError("data.feature_columns", f"columns {missing} not in the file")
        clash = [c for c in cfg.feature_columns if c in reserved]
        if clash:
            raise DataError("data.feature_columns", f"columns {clash} are id, time, target, "
                                                    "split or group columns, never features")
        features = list(cfg.feature_columns)
        non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(df[c])]
        if non_numeric:
            raise DataError("data.feature_columns", f"columns {non_numeric} are not numeric")
    else:
        features, ignored = [], []
        for c in df.columns:
            if c in reserved:
                continue
            if pd.api.types.is_numeric_dtype(df[c]):
                features.append(c)
                continue
            # Numbers with a few stray words (``n/a``) would otherwise vanish as a feature.
            as_num = pd.to_numeric(df[c], errors="coerce")
            stray = as_num.isna() & df[c].notna()
            if as_num.notna().sum() > stray.sum():
                raise DataError("data.feature_columns", f"column {c!r} is mostly numbers but "
                                                        f"holds {shown(df[c][stray].iloc[0])} "
                                                        f"({_rows(stray.to_numpy(), offset)}); "
                                                        "fix those values, or list the feature "
                                                        "columns in data.feature_columns")
            ignored.append(str(c))
    if not features:
        raise DataError("data.feature_columns", "no numeric feature columns")

    ids = df[cfg.id_column]
    missing_id = ids.isna().to_numpy()
    if missing_id.any():
        raise DataError("data.id_column", f"column {cfg.id_column!r} is empty on "
                                          f"{_rows(missing_id, offset)}")
    times = _time_order(df, cfg.time_column, offset)
    values = df[features].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError("data.path", f"{int(bad.sum())} NaN/inf feature values (first in column "
                                     f"{features[col]!r}, {_rows(bad[:, col], offset)})")

    work = pd.DataFrame({"id": ids, "time": times, "row": np.arange(len(df))})
    work = work.sort_values(["id", "time"], kind="stable")
    dup = work.duplicated(["id", "time"], keep=False).to_numpy()
    if dup.any():
        first = work[dup].iloc[0]
        rows = np.zeros(len(df), bool)
        rows[work["row"].to_numpy()[dup]] = True
        raise DataError("data.time_column", f"sequence {shown(first['id'])} has more than one "
                                            f"row at time {first['time']} "
                                            f"({_rows(rows, offset)})")
    order = work["row"].to_numpy()
    codes, uniques = pd.factorize(work["id"], sort=True)
    pos = work.groupby(codes, sort=True).cumcount().to_numpy()
    n, t_len = int(codes.max()) + 1, int(pos.max()) + 1
    x = np.zeros((n, t_len, len(features)), dtype=np.float32)
    x[codes, pos] = values[order].astype(np.float32)
    lengths = np.bincount(codes, minlength=n).astype(np.int64)
    starts = np.flatnonzero(pos == 0)  # first row of each sequence, in sequence order

    def per_sequence(col, key: str, allow_missing: bool = False) -> np.ndarray:
        s = df[col].iloc[order].reset_index(drop=True)
        if not allow_missing and s.isna().any():
            raise DataError(key, f"column {col!r} is empty on "
                                 f"{_rows(df[col].isna().to_numpy(), offset)}")
        varies = s.groupby(codes).nunique(dropna=False) > 1
        if varies.any():
            k = int(np.flatnonzero(varies.to_numpy())[0])
            first = s.iloc[starts[k]]
            differs = (codes == k) & ~s.eq(first).to_numpy()
            rows = np.zeros(len(df), bool)
            rows[order[differs]] = True
            raise DataError(key, f"column {col!r} is not constant within the sequence of "
                                 f"{cfg.id_column} {shown(uniques[k])}: {shown(first)} on its "
                                 f"first row, other values on {_rows(rows, offset)}")
        return s.iloc[starts].to_numpy()

    origin = Origin(row_offset=offset)
    label_lists = False
    names = None
    if not has_labels:
        y = np.zeros(n)
    elif task.type == "multilabel" and cfg.label_columns:
        y = np.stack([per_sequence(c, "data.label_columns") for c in cfg.label_columns], axis=1)
        names = list(cfg.label_columns)
        origin.label_key, origin.label_what = "data.label_columns", \
            f"columns {cfg.label_columns}"
    elif task.type == "regression" and cfg.target_columns:
        y = np.stack([per_sequence(c, "data.target_columns") for c in cfg.target_columns], axis=1)
        names = list(cfg.target_columns)
        origin.label_key, origin.label_what = "data.target_columns", \
            f"columns {cfg.target_columns}"
    else:
        label_lists = task.type == "multilabel"
        y = per_sequence(cfg.label_column, "data.label_column", allow_missing=label_lists)
        names = [cfg.label_column] if task.type == "regression" else None
        origin.label_key, origin.label_what = "data.label_column", f"column {cfg.label_column!r}"
    split = groups = None
    if cfg.split_column is not None:
        split = per_sequence(cfg.split_column, "data.split_column")
        origin.split_key, origin.split_what = "data.split_column", \
            f"column {cfg.split_column!r}"
    if cfg.group_column is not None:
        groups = per_sequence(cfg.group_column, "data.group_column")
        origin.group_key, origin.group_what = "data.group_column", \
            f"column {cfg.group_column!r}"
    return RawData(x, y, lengths, [str(f) for f in features], np.asarray(uniques), split=split,
                   groups=groups, label_names=names, label_lists=label_lists,
                   ignored_columns=ignored, origin=origin, has_labels=has_labels)
