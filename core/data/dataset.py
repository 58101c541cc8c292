"""The tensors a run trains on: one ``SequenceData`` per split, gathered in ``DataSplits``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from core.tasks import TASK_TYPES  # re-exported: the one list of task types

__all__ = ["SequenceData", "DataSplits", "TASK_TYPES"]



@dataclass
class SequenceData:
    """One split of N sequences.

    ``y`` per task type: multiclass int64 [N] class indices; binary float32 [N] of 0/1;
    multilabel float32 [N, K] of 0/1; regression float32 [N, D], standardised with the train
    split's mean and std (``DataSplits.target_mean``/``target_std`` restore the units).
    """

    x: torch.Tensor  # [N, T, F] float32, zero beyond each sequence's length
    y: torch.Tensor  # see the class docstring
    lengths: torch.Tensor | None  # [N] int64 valid steps, or None when all span T steps
    ids: np.ndarray | None = None  # [N] sequence ids (file's ids or NPZ row numbers); host only

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device) -> SequenceData:
        return dataclasses.replace(
            self, x=self.x.to(device), y=self.y.to(device),
            lengths=None if self.lengths is None else self.lengths.to(device))

    def subset(self, index: np.ndarray) -> SequenceData:
        """The sequences at ``index`` ([M] int64 positions), in that order."""
        at = torch.from_numpy(np.asarray(index, dtype=np.int64))
        return SequenceData(self.x[at], self.y[at],
                            None if self.lengths is None else self.lengths[at],
                            None if self.ids is None else self.ids[np.asarray(index)])


@dataclass
class DataSplits:
    """Train, validation and test splits with what is needed to read them.

    ``test`` may be empty (N=0) when the data has no test set (``data.test_fraction: 0`` or a
    given split without test); ``val`` is empty with ``data.val_fraction: 0``; train never is.
    """

    train: SequenceData
    val: SequenceData
    test: SequenceData
    class_names: list[str]  # multiclass: classes; binary: [negative, positive];
    #                         multilabel: label names; regression: target names
    feature_names: list[str]
    mean: torch.Tensor | None = None  # [F] normalisation fitted on train, None if not normalised
    std: torch.Tensor | None = None  # [F]; 1 for a feature constant in train (centred only)
    extras: dict = field(default_factory=dict)  # "ignored_columns", "warnings": [str] to log
    task: str = "multiclass"  # one of TASK_TYPES
    target_mean: torch.Tensor | None = None  # regression: [D] float32 train mean, else None
    target_std: torch.Tensor | None = None  # regression: [D] float32 train std, else None
    # data.cv_folds: K pairs (train positions, validation positions) into ``train``; ``val`` is
    # then empty and each fold's validation is its part of train. None without cross-validation.
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None

    @property
    def num_features(self) -> int:
        return int(self.train.x.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_outputs(self) -> int:
        """Model outputs: K classes (multiclass), 1 (binary), K labels, D targets."""
        return 1 if self.task == "binary" else len(self.class_names)

    def fold(self, k: int) -> DataSplits:
        """Fold ``k`` as holdout splits: train and val are its parts of ``train``, test as is.

        Raises:
            ValueError: the data have no folds.
        """
        if not self.folds:
            raise ValueError("these data have no cross-validation folds (data.cv_folds)")
        tr, va = self.folds[k]
        return dataclasses.replace(self, train=self.train.subset(tr), val=self.train.subset(va),
                                   folds=None)

    def to(self, device) -> DataSplits:
        return dataclasses.replace(self, train=self.train.to(device), val=self.val.to(device),
                                   test=self.test.to(device))

    def describe(self) -> str:
        """Sizes, shape and the balance of the targets per split: logged at the start of a run.

        Multiclass and binary: counts per class and the minority class's share; multilabel: the
        positive rate per label; regression: each target's mean and std in original units.
        """
        what = {"multiclass": f"{self.num_classes} classes",
                "binary": f"binary, positive class {self.class_names[-1]!r}",
                "multilabel": f"{self.num_classes} labels",
                "regression": f"{self.num_classes} regression targets"}[self.task]
        lines = [f"data: {self.num_features} features, {what}, "
                 f"max length {self.train.x.shape[1]}"]
        for name in ("train", "val", "test"):
            part = getattr(self, name)
            n = len(part)
            if n == 0:
                lines.append(f"  {name:5s} {0:7d} sequences (no {name} split)")
                continue
            lens = "" if part.lengths is None else \
                f", lengths {int(part.lengths.min())}-{int(part.lengths.max())}"
            lines.append(f"  {name:5s} {n:7d} sequences{lens}; {self._balance(part)}")
        if self.folds:
            sizes = [len(va) for _, va in self.folds]
            lines.append(f"  cross-validation: {len(self.folds)} folds of train, validation "
                         f"{min(sizes)}-{max(sizes)} sequences each")
        ignored = self.extras.get("ignored_columns")
        if ignored:
            lines.append(f"  ignored non-numeric columns: {', '.join(map(str, ignored))}")
        return "\n".join(lines)

    def _balance(self, part: SequenceData) -> str:
        y = part.y.detach().cpu()
        names = self.class_names
        if self.task in ("multiclass", "binary"):
            counts = torch.bincount(y.long(), minlength=len(names)).tolist()
            k = int(np.argmin(counts))
            return (f"per class {counts}; minority class {names[k]!r} "
                    f"{100 * counts[k] / len(y):.1f}%")
        if self.task == "multilabel":
            rates = y.float().mean(0).tolist()
            return "positive rate " + ", ".join(f"{n} {r:.3f}" for n, r in zip(names, rates,
                                                                              strict=True))
        y = y.double()
        if self.target_std is not None:
            y = y * self.target_std.cpu().double() + self.target_mean.cpu().double()
        mean, std = y.mean(0).tolist(), y.std(0, unbiased=False).tolist()
        return "target mean/std " + ", ".join(f"{n} {m:.4g}/{s:.4g}" for n, m, s in
                                              zip(names, mean, std, strict=True))
