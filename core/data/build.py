"""From a config (or arrays) to ``DataSplits``: targets encoded, split, normalised, as tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.config import DataConfig, TaskConfig
from core.data.dataset import DataSplits, SequenceData
from core.data.errors import DataError, shown
from core.data.files import Origin, RawData, check_finite, read_long, read_npz
from core.data.folds import cv_folds
from core.data.split import given_split, group_split, random_split, split_arrays
from core.data.synthetic import synthetic_task
from core.data.targets import Targets, encode_targets

__all__ = ["load_data", "from_arrays", "build_splits"]


def load_data(data: DataConfig, task: TaskConfig) -> DataSplits:
    """Builds the splits that ``data`` describes, with targets of ``task.type``.

    Raises:
        DataError: the file is missing or unreadable, or its content does not fit the config;
            the error names the config key at fault and the data file.
    """
    if data.source == "synthetic":
        s = data.synthetic
        made = synthetic_task(task.type, s.num_samples, s.seq_len, s.num_channels,
                              s.num_motifs, s.noise, s.seed, s.positive_fraction)
        return from_arrays(made.x, made.y, None, data, [f"ch{i}" for i in
                                                        range(s.num_channels)],
                           task=task, label_names=made.label_names)
    path = Path(data.path or "")
    if not path.is_file():
        raise DataError("data.path", f"file not found: {path}")
    try:
        raw = read_npz(path) if data.source == "npz" else \
            read_long(path, data, task, data.source)
        return build_splits(raw, data, task)
    except DataError as exc:
        raise exc.with_path(str(path)) from None


def from_arrays(x: np.ndarray, y: np.ndarray, lengths: np.ndarray | None, cfg: DataConfig,
                feature_names: list[str] | None = None, *, task: TaskConfig | None = None,
                split: np.ndarray | None = None, groups: np.ndarray | None = None,
                ids: np.ndarray | None = None,
                label_names: list[str] | None = None) -> DataSplits:
    """Splits in-memory arrays as ``load_data`` splits a file.

    Args:
        x: [N, T, F] features, zero (or anything) beyond each length.
        y: raw targets of ``task.type`` (multiclass by default); see ``core.data.targets``.
        lengths: [N] valid steps per sequence, or None for full length.
        split, groups, ids: optional [N] arrays, as an NPZ file's ``split``, ``groups``, ``ids``.
        label_names: multilabel label names or regression target names.

    Raises:
        DataError: as ``load_data``; NaN/inf in ``x`` within the lengths names ``data['x']``
            and the first sequence, step and feature.
    """
    x = np.asarray(x, dtype=np.float32)
    if lengths is not None:
        x = x.copy()
        x[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = 0.0
    check_finite(x, lengths, "data['x']", "array x")
    raw = RawData(x, np.asarray(y), lengths, list(feature_names or
                                                 [f"f{i}" for i in range(x.shape[2])]),
                  np.arange(len(x)) if ids is None else np.asarray(ids), split=split,
                  groups=groups, label_names=label_names,
                  origin=Origin(label_key="task.type", label_what="the targets"))
    return build_splits(raw, cfg, task or TaskConfig())


def _counts(targets: Targets, task: TaskConfig, n_classes: int) -> np.ndarray:
    """What a sequence counts towards when whole groups are balanced across splits."""
    if task.type in ("multiclass", "binary"):
        return np.eye(n_classes)[targets.strata]
    ones = np.ones((len(targets.strata), 1))
    if task.type == "multilabel":
        return np.concatenate([targets.y, ones], axis=1)
    return ones


def _check_groups(raw: RawData) -> np.ndarray | None:
    if raw.groups is None:
        return None
    g = np.asarray(raw.groups)
    o = raw.origin
    missing = np.asarray([v is None or (isinstance(v, float) and np.isnan(v))
                          for v in g.tolist()])
    if missing.any():
        first = shown(raw.ids[np.flatnonzero(missing)[0]])
        raise DataError(o.group_key, f"{o.group_what} is empty for {int(missing.sum())} "
                                     f"sequences (first: {first})")
    return np.asarray([str(v) for v in g.tolist()])


def _assign(raw: RawData, targets: Targets, cfg: DataConfig, task: TaskConfig):
    o = raw.origin
    classes = task.type in ("multiclass", "binary")
    groups = _check_groups(raw)
    counts = _counts(targets, task, len(targets.names))
    vf, tf, seed = cfg.val_fraction, cfg.test_fraction, cfg.split_seed
    if cfg.cv_folds:
        return _assign_cv(raw, targets, cfg, task, groups, counts)
    if raw.split is None:
        if groups is not None:
            return group_split(groups, counts, (1 - vf - tf, vf, tf), seed,
                               key=o.group_key, what=o.group_what)
        if classes:
            return split_arrays(targets.strata, vf, tf, seed, targets.names)
        return random_split(len(raw.x), vf, tf, seed)
    tr, va, te = given_split(raw.split, key=o.split_key, what=o.split_what)
    if groups is not None:
        named = {"train": tr, "val": va, "test": te}
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            both = np.intersect1d(groups[named[a]], groups[named[b]])
            if both.size:
                raise DataError(o.split_key, f"{o.split_what} puts group {shown(both[0])} of "
                                             f"{o.group_what} in both {a} and {b} "
                                             f"({both.size} groups in all)")
    if len(va) == 0 and vf > 0:
        # Validation carved from the given train split, of val_fraction of its sequences.
        if groups is not None:
            a, b, _ = group_split(groups[tr], counts[tr], (1 - vf, vf, 0.0), seed,
                                  key=o.group_key, what=o.group_what)
        elif classes:
            a, b, _ = split_arrays(targets.strata[tr], vf, 0.0, seed, targets.names,
                                   strict=False)
        else:
            a, b, _ = random_split(len(tr), vf, 0.0, seed)
        if len(b) == 0 or len(a) == 0:
            raise DataError("data.val_fraction", f"{o.split_what} has no val sequences and "
                                                 f"its {len(tr)} train sequences are too few "
                                                 f"to carve val_fraction={vf} from")
        tr, va = tr[a], tr[b]
    return tr, va, te


def _assign_cv(raw: RawData, targets: Targets, cfg: DataConfig, task: TaskConfig,
               groups: np.ndarray | None, counts: np.ndarray):
    """``data.cv_folds``: train is every non-test sequence (the folds are made from it), val is
    empty. The test split is ``test_fraction`` of the data (stratified, by group when there are
    groups) or the given split's test; a given split with val sequences is an error."""
    o = raw.origin
    empty = np.zeros(0, np.int64)
    if raw.split is not None:
        tr, va, te = given_split(raw.split, key=o.split_key, what=o.split_what)
        if len(va):
            raise DataError("data.cv_folds", f"{o.split_what} gives {len(va)} val sequences, "
                                             f"but cross-validation makes its validation folds "
                                             f"from train: mark them train, or leave "
                                             f"data.cv_folds unset")
        return tr, empty, te
    tf, seed = cfg.test_fraction, cfg.split_seed
    if tf == 0:
        return np.arange(len(raw.x), dtype=np.int64), empty, empty
    try:
        # The test split is carved the way a holdout run carves validation (second place).
        if groups is not None:
            tr, te, _ = group_split(groups, counts, (1 - tf, tf, 0.0), seed, key=o.group_key,
                                    what=o.group_what)
        elif task.type in ("multiclass", "binary"):
            tr, te, _ = split_arrays(targets.strata, tf, 0.0, seed, targets.names)
        else:
            tr, te, _ = random_split(len(raw.x), tf, 0.0, seed)
    except DataError as exc:
        key = "data.test_fraction" if exc.key == "data.val_fraction" else exc.key
        raise DataError(key, exc.message.replace("val_fraction=", "test_fraction=")
                        .replace("the val split", "the test split")) from None
    return tr, empty, te


def _constant_feature(name: str, value: float, val: np.ndarray, test: np.ndarray,
                      lengths: np.ndarray | None, va: np.ndarray, te: np.ndarray) -> str:
    """The warning for a feature constant in train; val/test are its [n, T] values."""
    varies = []
    for split, part, idx in (("val", val, va), ("test", test, te)):
        if len(idx) == 0:
            continue
        if lengths is not None:
            part = part[np.arange(part.shape[1])[None, :] < lengths[idx][:, None]]
        if np.ptp(part) > 0 or not np.allclose(part, value):
            varies.append(split)
    line = (f"feature {name!r} is constant in the train split (value {value:.6g}): centred "
            f"only, not scaled")
    if varies:
        line += (f"; it varies in {' and '.join(varies)}, where the model never saw it change "
                 f"(check the split or drop the feature)")
    return line


def build_splits(raw: RawData, cfg: DataConfig, task: TaskConfig) -> DataSplits:
    """Encodes targets, splits, normalises features on train and returns tensors.

    Features are standardised with the train split's mean and std; a feature constant in train
    (std < 1e-6) is only centred, with a warning naming it in ``DataSplits.extras["warnings"]``.
    Regression targets are standardised with the train split's mean and std, which are kept in
    ``DataSplits.target_mean``/``target_std``. With ``data.cv_folds`` train holds every non-test
    sequence, val is empty and ``DataSplits.folds`` the folds (``core.data.folds``); the
    normalisation is fitted on all of train (feature and target statistics, no labels), the same
    for every fold and for a final model trained on all of it.
    """
    x, lengths = raw.x, raw.lengths
    if len(x) == 0:
        raise DataError("data.path", "the data set is empty")
    targets = encode_targets(raw, cfg, task)
    tr, va, te = _assign(raw, targets, cfg, task)
    if lengths is not None and (lengths == x.shape[1]).all():
        lengths = None
    mean = std = None
    warn: list[str] = []
    if cfg.normalize:
        xt = x[tr].astype(np.float64)
        if lengths is None:
            flat = xt.reshape(-1, x.shape[2])
        else:
            valid = np.arange(x.shape[1])[None, :] < lengths[tr][:, None]
            flat = xt[valid]
        mean_np = flat.mean(axis=0)
        std_np = flat.std(axis=0)
        # A feature constant in train (std below what float32 data resolve) is only centred, as a
        # constant regression target is: dividing by a clamped std would blow up its val/test
        # values (by up to 1e6) wherever they differ from the train constant.
        constant = std_np < 1e-6
        std_np = np.where(constant, 1.0, std_np)
        for f in np.flatnonzero(constant):
            warn.append(_constant_feature(raw.feature_names[f], mean_np[f], x[va, :, f],
                                          x[te, :, f], lengths, va, te))
        x = ((x - mean_np) / std_np).astype(np.float32)
        if lengths is not None:
            x[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = 0.0
        mean, std = torch.from_numpy(mean_np.astype(np.float32)), \
            torch.from_numpy(std_np.astype(np.float32))
    y = targets.y
    target_mean = target_std = None
    if task.type == "regression":
        mu = y[tr].mean(axis=0)
        sd = y[tr].std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)  # a constant target stays as it is, only centred
        y = ((y - mu) / sd).astype(np.float32)
        target_mean = torch.from_numpy(mu.astype(np.float32))
        target_std = torch.from_numpy(sd.astype(np.float32))

    def part(idx: np.ndarray) -> SequenceData:
        return SequenceData(torch.from_numpy(np.ascontiguousarray(x[idx])),
                            torch.from_numpy(np.ascontiguousarray(y[idx])),
                            None if lengths is None else torch.from_numpy(lengths[idx]),
                            raw.ids[idx])

    folds = None
    if cfg.cv_folds:
        groups = _check_groups(raw)
        folds = cv_folds(task.type, targets.strata[tr], targets.y[tr],
                         None if groups is None else groups[tr], cfg.cv_folds, cfg.split_seed,
                         targets.names)
    splits = DataSplits(part(tr), part(va), part(te), targets.names, raw.feature_names, mean,
                        std, task=task.type, target_mean=target_mean, target_std=target_std,
                        folds=folds)
    if raw.ignored_columns:
        splits.extras["ignored_columns"] = list(raw.ignored_columns)
    if warn:
        splits.extras["warnings"] = warn
    # No validation split with cross-validation (the folds validate) or val_fraction 0.
    for name in ("train",) if folds or cfg.val_fraction == 0 else ("train", "val"):
        if len(getattr(splits, name)) == 0:
            raise DataError("data.path", f"the {name} split is empty")
    return splits
