"""Sequence-classification data: the embedded synthetic set, users' files, split and batching.

Everything returns ``DataSplits``: train/val/test tensors ``x`` [N, T, F] float32, ``y`` [N]
int64 and ``lengths`` [N] int64 (``None`` when every sequence has the full length T, which lets
recurrent models skip packing). Problems with the data raise ``DataError`` naming the config key
at fault.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.config import DataConfig, LoaderConfig, TaskConfig

__all__ = ["DataError", "SequenceData", "DataSplits", "load_data", "generate_synthetic",
           "from_arrays", "split_arrays", "BatchSource"]


class DataError(ValueError):
    """A data problem, attributed to a config key (``data.path``, ``data.label_column``)."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


@dataclass
class SequenceData:
    """One split. ``lengths`` is None when all sequences span the full T steps."""

    x: torch.Tensor  # [N, T, F] float32, zero beyond each sequence's length
    y: torch.Tensor  # [N] int64 class indices
    lengths: torch.Tensor | None  # [N] int64 valid steps, or None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device) -> SequenceData:
        return SequenceData(self.x.to(device), self.y.to(device),
                            None if self.lengths is None else self.lengths.to(device))


@dataclass
class DataSplits:
    train: SequenceData
    val: SequenceData
    test: SequenceData
    class_names: list[str]
    feature_names: list[str]
    mean: torch.Tensor | None = None  # [F] normalisation fitted on train, None if not normalised
    std: torch.Tensor | None = None
    extras: dict = field(default_factory=dict)
    task: str = "multiclass"  # task.type the targets are encoded for
    target_mean: torch.Tensor | None = None  # regression: [D] train statistics of the targets
    target_std: torch.Tensor | None = None

    @property
    def num_features(self) -> int:
        return int(self.train.x.shape[-1])

    @property
    def num_outputs(self) -> int:
        """Model outputs: K (multiclass, multilabel), 1 (binary), D (regression)."""
        if self.task == "multiclass":
            return self.num_classes
        if self.task == "binary":
            return 1
        return int(self.train.y.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to(self, device) -> DataSplits:
        return dataclasses.replace(self, train=self.train.to(device), val=self.val.to(device),
                                   test=self.test.to(device))

    def describe(self) -> str:
        """Sizes, shape and class counts per split: logged at the start of every run."""
        k = self.num_classes
        lines = [f"data: {self.num_features} features, {k} classes, "
                 f"max length {self.train.x.shape[1]}"]
        for name in ("train", "val", "test"):
            part = getattr(self, name)
            counts = torch.bincount(part.y.cpu(), minlength=k).tolist() if len(part) else [0] * k
            lens = "" if part.lengths is None else \
                f", lengths {int(part.lengths.min())}-{int(part.lengths.max())}"
            lines.append(f"  {name:5s} {len(part):7d} sequences{lens}; per class {counts}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The embedded synthetic data set


def _motifs(num_motifs: int, length: int) -> np.ndarray:
    """Distinct unit-amplitude shapes [M, L]: bump, one sine cycle, square pulse, ramp, ..."""
    t = np.linspace(0.0, 1.0, length)
    shapes = [
        np.exp(-((t - 0.5) ** 2) / 0.02),           # bump
        np.sin(2 * np.pi * t),                      # one sine cycle
        np.where((t > 0.2) & (t < 0.8), 1.0, -0.3),  # square pulse
        2 * t - 1,                                  # ramp
        np.sin(4 * np.pi * t) * np.exp(-((t - 0.5) ** 2) / 0.08),  # wavelet
        -np.exp(-((t - 0.5) ** 2) / 0.02),          # dip
    ]
    return np.stack(shapes[:num_motifs]).astype(np.float32)


def generate_synthetic(num_samples: int, seq_len: int, num_channels: int, num_motifs: int,
                       noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multichannel "motif order" classification: identical output for identical arguments.

    Each sequence is correlated noise plus a distractor sinusoid per channel, with two motifs
    inserted on random channels: one in the first half, one in the second. The label is the
    ordered pair (first motif, second motif), so ``num_motifs**2`` classes; telling them apart needs
    shape detection under noise and memory of what came first, which is what makes learning rate,
    width and depth matter.

    Returns:
        ``x`` [N, T, C] float32 and ``y`` [N] int64.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    n, t_len, c = num_samples, seq_len, num_channels
    # AR(1) background with unit marginal variance (phi = 0.7).
    phi = 0.7
    eps = rng.standard_normal((n, t_len, c), dtype=np.float32) * np.float32(np.sqrt(1 - phi**2))
    x = np.empty_like(eps)
    x[:, 0] = rng.standard_normal((n, c), dtype=np.float32)
    for step in range(1, t_len):
        x[:, step] = phi * x[:, step - 1] + eps[:, step]
    x *= np.float32(noise)
    freq = rng.uniform(2.0, 10.0, size=(n, 1, c)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, c)).astype(np.float32)
    tt = np.arange(t_len, dtype=np.float32)[None, :, None] / t_len
    x += np.float32(0.3) * np.sin(2 * np.pi * freq * tt + phase)

    motif_len = max(3, t_len // 6)
    shapes = _motifs(num_motifs, motif_len)
    first = rng.integers(0, num_motifs, size=n)
    second = rng.integers(0, num_motifs, size=n)
    half = t_len // 2
    rows = np.arange(n)
    offsets = np.arange(motif_len)
    for which, lo, hi in ((first, 0, half - motif_len), (second, half, t_len - motif_len)):
        start = rng.integers(lo, hi + 1, size=n)
        chan = rng.integers(0, c, size=n)
        amp = rng.uniform(1.5, 2.5, size=n).astype(np.float32)
        steps = start[:, None] + offsets[None, :]
        x[rows[:, None], steps, chan[:, None]] += amp[:, None] * shapes[which]
    y = (first * num_motifs + second).astype(np.int64)
    return x, y


# ---------------------------------------------------------------------------------------------
# Users' files


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[str]]:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except ValueError as exc:
        raise DataError("data.path", f"{path}: cannot read as NPZ without pickle ({exc})") from None
    except Exception as exc:  # zipfile.BadZipFile, OSError, ...
        raise DataError("data.path", f"{path}: not a readable NPZ file ({exc})") from None
    for key in ("X", "y"):
        if key not in arrays:
            raise DataError("data.path", f"{path}: missing array {key!r} "
                                         f"(found {sorted(arrays)})")
    x, y, lengths = arrays["X"], arrays["y"], arrays.get("lengths")
    if x.ndim != 3:
        raise DataError("data.path", f"{path}: X must be [N, T, F], got shape {x.shape}")
    if y.shape != (x.shape[0],):
        raise DataError("data.path", f"{path}: y must be [N] = [{x.shape[0]}], got {y.shape}")
    if lengths is not None:
        if lengths.shape != (x.shape[0],) or not np.issubdtype(lengths.dtype, np.integer):
            raise DataError("data.path", f"{path}: lengths must be [N] integers")
        if lengths.min(initial=1) < 1 or lengths.max(initial=0) > x.shape[1]:
            raise DataError("data.path", f"{path}: lengths must lie in [1, T={x.shape[1]}]")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError("data.path", f"{path}: X must be numeric, got {x.dtype}")
    x = x.astype(np.float32)
    if lengths is not None:
        valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
        x[~valid] = 0.0
    else:
        valid = None
    bad = ~np.isfinite(x if valid is None else np.where(valid[..., None], x, 0.0))
    if bad.any():
        i, step, feat = np.argwhere(bad)[0]
        raise DataError("data.path", f"{path}: X has {int(bad.sum())} NaN/inf values "
                                     f"(first at sample {i}, step {step}, feature {feat})")
    return x, y, lengths, [f"f{i}" for i in range(x.shape[2])]


def _load_long(path: Path, cfg: DataConfig, fmt: str):
    import pandas as pd

    try:
        df = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except Exception as exc:
        raise DataError("data.path", f"{path}: cannot read as {fmt} ({exc})") from None
    for key in ("id_column", "time_column", "label_column"):
        col = getattr(cfg, key)
        if col not in df.columns:
            raise DataError(f"data.{key}", f"column {col!r} not in {path} "
                                           f"(columns: {', '.join(map(str, df.columns))})")
    reserved = {cfg.id_column, cfg.time_column, cfg.label_column}
    if cfg.feature_columns is not None:
        missing = [c for c in cfg.feature_columns if c not in df.columns]
        if missing:
            raise DataError("data.feature_columns", f"columns {missing} not in {path}")
        features = list(cfg.feature_columns)
        non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(df[c])]
        if non_numeric:
            raise DataError("data.feature_columns", f"{path}: columns {non_numeric} are not "
                                                    "numeric")
    else:
        features = [c for c in df.columns
                    if c not in reserved and pd.api.types.is_numeric_dtype(df[c])]
    if not features:
        raise DataError("data.feature_columns", f"{path}: no numeric feature columns")
    if df.empty:
        raise DataError("data.path", f"{path}: no rows")
    values = df[features].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError("data.path", f"{path}: {int(bad.sum())} NaN/inf feature values (first in "
                                     f"column {features[col]!r}, row {row + 2} counting the "
                                     "header as row 1)" if fmt == "csv" else
                                     f"{path}: {int(bad.sum())} NaN/inf feature values (first "
                                     f"in column {features[col]!r}, row {row})")
    if df[cfg.label_column].isna().any():
        raise DataError("data.label_column", f"{path}: column {cfg.label_column!r} has missing "
                                             "labels")
    df = df.sort_values([cfg.id_column, cfg.time_column], kind="stable")
    codes, _ = pd.factorize(df[cfg.id_column], sort=True)
    pos = df.groupby(cfg.id_column, sort=True).cumcount().to_numpy()
    n, t_len = int(codes.max()) + 1, int(pos.max()) + 1
    x = np.zeros((n, t_len, len(features)), dtype=np.float32)
    x[codes, pos] = df[features].to_numpy(dtype=np.float32)
    lengths = np.bincount(codes, minlength=n).astype(np.int64)
    labels = df.groupby(cfg.id_column, sort=True)[cfg.label_column]
    if (labels.nunique() > 1).any():
        bad_id = labels.nunique()[labels.nunique() > 1].index[0]
        raise DataError("data.label_column", f"{path}: sequence {bad_id!r} has more than one "
                                             "label")
    y = labels.first().to_numpy()
    return x, y, lengths, features


def _encode_labels(y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    classes, encoded = np.unique(y, return_inverse=True)
    return encoded.astype(np.int64), [str(c) for c in classes]


# ---------------------------------------------------------------------------------------------
# Split and normalisation


def split_arrays(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int,
                 class_names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified split: every class is in every split (or a DataError says which is not)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    parts: tuple[list, list, list] = ([], [], [])
    for k in range(len(class_names)):
        idx = np.flatnonzero(y == k)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        n_test = int(round(len(idx) * test_fraction))
        n_train = len(idx) - n_val - n_test
        need_test = test_fraction > 0
        if n_train < 1 or n_val < 1 or (need_test and n_test < 1):
            split = "train" if n_train < 1 else "val" if n_val < 1 else "test"
            raise DataError("data.val_fraction" if split == "val" else
                            "data.test_fraction" if split == "test" else "data.path",
                            f"class {class_names[k]!r} has {len(idx)} sequences: none would be "
                            f"in the {split} split (val_fraction={val_fraction}, "
                            f"test_fraction={test_fraction})")
        parts[0].append(idx[n_val + n_test:])
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val:n_val + n_test])
    return tuple(np.sort(np.concatenate(p)) for p in parts)  # type: ignore[return-value]


def from_arrays(x: np.ndarray, y_raw: np.ndarray, lengths: np.ndarray | None, cfg: DataConfig,
                feature_names: list[str] | None = None) -> DataSplits:
    """Encodes labels, splits stratified, normalises on train, and returns tensors."""
    if len(x) == 0:
        raise DataError("data.path", "the data set is empty")
    y, class_names = _encode_labels(y_raw)
    if len(class_names) < 2:
        raise DataError("data.label_column", f"need at least 2 classes, found {class_names}")
    tr, va, te = split_arrays(y, cfg.val_fraction, cfg.test_fraction, cfg.split_seed,
                              class_names)
    if lengths is not None and (lengths == x.shape[1]).all():
        lengths = None
    mean = std = None
    if cfg.normalize:
        xt = x[tr].astype(np.float64)
        if lengths is None:
            flat = xt.reshape(-1, x.shape[2])
        else:
            valid = np.arange(x.shape[1])[None, :] < lengths[tr][:, None]
            flat = xt[valid]
        mean_np = flat.mean(axis=0)
        std_np = np.maximum(flat.std(axis=0), 1e-6)
        x = ((x - mean_np) / std_np).astype(np.float32)
        if lengths is not None:
            x[np.arange(x.shape[1])[None, :] >= lengths[:, None]] = 0.0
        mean, std = torch.from_numpy(mean_np.astype(np.float32)), \
            torch.from_numpy(std_np.astype(np.float32))

    def part(idx: np.ndarray) -> SequenceData:
        return SequenceData(torch.from_numpy(np.ascontiguousarray(x[idx])),
                            torch.from_numpy(y[idx]),
                            None if lengths is None else torch.from_numpy(lengths[idx]))

    splits = DataSplits(part(tr), part(va), part(te), class_names,
                        feature_names or [f"f{i}" for i in range(x.shape[2])], mean, std)
    for name in ("train", "val"):
        if len(getattr(splits, name)) == 0:
            raise DataError("data.path", f"the {name} split is empty")
    return splits


def load_data(cfg: DataConfig, task: TaskConfig | None = None) -> DataSplits:
    """Builds the splits that ``cfg`` describes. Raises ``DataError`` on bad data."""
    if cfg.source == "synthetic":
        s = cfg.synthetic
        x, y = generate_synthetic(s.num_samples, s.seq_len, s.num_channels, s.num_motifs,
                                  s.noise, s.seed)
        names = [f"m{a}>m{b}" for a in range(s.num_motifs) for b in range(s.num_motifs)]
        # Labels are 0..K-1 already; map to names so class_names reads well in logs.
        return from_arrays(x, np.asarray(names)[y], None, cfg,
                           [f"ch{i}" for i in range(s.num_channels)])
    path = Path(cfg.path or "")
    if not path.is_file():
        raise DataError("data.path", f"file not found: {path}")
    if cfg.source == "npz":
        x, y, lengths, names = _load_npz(path)
    else:
        x, y, lengths, names = _load_long(path, cfg, cfg.source)
    return from_arrays(x, y, lengths, cfg, names)


# ---------------------------------------------------------------------------------------------
# Batching


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


class BatchSource:
    """Training and evaluation batches for one split, in tensor or DataLoader mode.

    Tensor mode keeps the split on the device, gathers it once per epoch in the order of a
    permutation drawn from ``generator`` (a CPU ``torch.Generator`` whose state is saved in
    checkpoints, so a resumed run sees the same data order) and yields contiguous slices.
    DataLoader mode uses the same generator for its sampler.
    """

    def __init__(self, split: SequenceData, cfg: LoaderConfig, device: torch.device,
                 batch_size: int, generator: torch.Generator):
        self.cfg = cfg
        self.device = device
        self.batch_size = batch_size
        self.generator = generator
        self.n = len(split)
        self._loader = None
        if cfg.mode == "tensor":
            self.split = split.to(device)
        else:
            self.split = split
            self._loader = self._make_loader(split)

    def _make_loader(self, split: SequenceData):
        from torch.utils.data import DataLoader, TensorDataset

        tensors = [split.x, split.y] + ([split.lengths] if split.lengths is not None else [])
        workers = self.cfg.num_workers
        kwargs = {}
        if workers > 0:
            kwargs["persistent_workers"] = self.cfg.persistent_workers
            kwargs["worker_init_fn"] = _seed_worker
            if self.cfg.prefetch_factor is not None:
                kwargs["prefetch_factor"] = self.cfg.prefetch_factor
        return DataLoader(TensorDataset(*tensors), batch_size=self.batch_size, shuffle=True,
                          generator=self.generator, num_workers=workers,
                          pin_memory=self.cfg.pin_memory and self.device.type == "cuda",
                          drop_last=self.cfg.drop_last, **kwargs)

    def num_batches(self) -> int:
        if self.cfg.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        if self._loader is not None:
            nb = self.device.type == "cuda"
            for item in self._loader:
                x, y = item[0].to(self.device, non_blocking=nb), item[1].to(self.device,
                                                                            non_blocking=nb)
                lengths = item[2].to(self.device, non_blocking=nb) if len(item) > 2 else None
                yield x, y, lengths
            return
        # One gather per epoch, then contiguous slices: no per-step indexing kernels.
        perm = torch.randperm(self.n, generator=self.generator).to(self.device)
        s = self.split
        x, y = s.x.index_select(0, perm), s.y.index_select(0, perm)
        lengths = None if s.lengths is None else s.lengths.index_select(0, perm)
        for i in range(self.num_batches()):
            sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
            yield x[sl], y[sl], None if lengths is None else lengths[sl]


def eval_batches(split: SequenceData, batch_size: int, device: torch.device) -> Iterator[Batch]:
    """Batches of a split in order; the split may live on the host or the device."""
    for i in range(0, len(split), batch_size):
        sl = slice(i, i + batch_size)
        yield (split.x[sl].to(device, non_blocking=True), split.y[sl].to(device, non_blocking=True),
               None if split.lengths is None else split.lengths[sl].to(device, non_blocking=True))


def _seed_worker(worker_id: int) -> None:
    import random

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
