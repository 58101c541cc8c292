"""Assigning sequences to train, validation and test.

- Default: classes (multiclass, binary) are split stratified, so every class is in every split;
  multilabel and regression targets are split at random.
- Groups (``data.group_column``, NPZ ``groups``): whole groups are assigned to splits, greedily
  so that each split's class counts (multilabel: positives per label) come close to its share.
- A given split (``data.split_column``, NPZ ``split``) is kept as it is; without validation
  sequences, validation is carved from train (stratified, by group when there are groups).

Every function returns sorted index arrays ``(train, val, test)``; ``test`` is empty when
``test_fraction`` is 0 or a given split has no test sequences, ``val`` when ``val_fraction`` is 0
(no validation: the run trains on every non-test sequence).
"""

from __future__ import annotations

import numpy as np

from core.data.errors import DataError

__all__ = ["split_arrays", "random_split", "group_split", "given_split", "SPLIT_NAMES"]

SPLIT_NAMES = ("train", "val", "test")
Indices = tuple[np.ndarray, np.ndarray, np.ndarray]


def split_arrays(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int,
                 class_names: list[str], *, strict: bool = True) -> Indices:
    """Stratified split: every class is in every split (or a DataError says which is not).

    Args:
        y: [N] int64 class indices in ``range(len(class_names))``.
        strict: with False, a class too small for validation or test stays in train instead of
            raising (used when carving validation out of a given train split).
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    parts: tuple[list, list, list] = ([], [], [])
    for k in range(len(class_names)):
        idx = np.flatnonzero(y == k)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        n_test = int(round(len(idx) * test_fraction))
        n_train = len(idx) - n_val - n_test
        need_test, need_val = test_fraction > 0, val_fraction > 0
        if strict and (n_train < 1 or (need_val and n_val < 1) or (need_test and n_test < 1)):
            split = "train" if n_train < 1 else "val" if n_val < 1 else "test"
            raise DataError("data.val_fraction" if split == "val" else
                            "data.test_fraction" if split == "test" else "data.path",
                            f"class {class_names[k]!r} has {len(idx)} sequences: none would be "
                            f"in the {split} split (val_fraction={val_fraction}, "
                            f"test_fraction={test_fraction})")
        if n_train < 1:  # not strict: the train split keeps what there is
            n_val = n_test = 0
        parts[0].append(idx[n_val + n_test:])
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val:n_val + n_test])
    return tuple(np.sort(np.concatenate(p)).astype(np.int64) for p in parts)  # type: ignore


def random_split(n: int, val_fraction: float, test_fraction: float, seed: int) -> Indices:
    """Plain random split of ``n`` sequences (regression, multilabel)."""
    perm = np.random.Generator(np.random.PCG64(seed)).permutation(n)
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    need_val = val_fraction > 0
    if n - n_val - n_test < 1 or (need_val and n_val < 1) or (test_fraction > 0 and n_test < 1):
        split = "val" if need_val and n_val < 1 else \
            "test" if n_test < 1 and test_fraction > 0 else "train"
        raise DataError("data.val_fraction" if split == "val" else
                        "data.test_fraction" if split == "test" else "data.path",
                        f"{n} sequences: none would be in the {split} split (val_fraction="
                        f"{val_fraction}, test_fraction={test_fraction})")
    return (np.sort(perm[n_val + n_test:]), np.sort(perm[:n_val]),
            np.sort(perm[n_val:n_val + n_test]))


def group_split(groups: np.ndarray, counts: np.ndarray, fractions: tuple[float, float, float],
                seed: int, *, key: str, what: str) -> Indices:
    """Assigns whole groups to splits, each split's counts close to its share.

    Args:
        groups: [N] group of each sequence.
        counts: [N, C] what each sequence counts towards (one-hot class; multilabel: its labels
            and a column of ones; regression: a column of ones).
        fractions: target shares of train, val and test (0 for a split that stays empty).
        key, what: the config key and the words naming the groups, for errors.

    Groups are taken largest first (ties in a seeded random order); each goes to the split
    whose relative shortfall it fills best. Raises ``DataError`` when a split with a share
    receives no group.
    """
    uniq, inverse = np.unique(groups.astype(str) if groups.dtype == object else groups,
                              return_inverse=True)
    inverse = inverse.reshape(-1)
    per_group = np.zeros((len(uniq), counts.shape[1]))
    np.add.at(per_group, inverse, counts)
    totals = per_group.sum(0)
    share = np.asarray(fractions, dtype=np.float64)
    wanted = share[:, None] * totals[None, :]  # [3, C]
    scale = 1.0 / np.maximum(totals, 1.0) ** 2
    rng = np.random.Generator(np.random.PCG64(seed))
    order = rng.permutation(len(uniq))
    order = order[np.argsort(-np.bincount(inverse, minlength=len(uniq))[order], kind="stable")]
    have = np.zeros_like(wanted)
    where = np.empty(len(uniq), np.int64)
    open_splits = np.flatnonzero(share > 0)
    for g in order:
        c = per_group[g]
        # Growth of the squared relative shortfall if g went to each split.
        cost = ((2 * (have - wanted) * c + c * c) * scale).sum(1)
        s = open_splits[np.argmin(cost[open_splits])]
        where[g] = s
        have[s] += c
    seq_split = where[inverse]
    for s in open_splits:
        if not (seq_split == s).any():
            raise DataError(key, f"{what}: {len(uniq)} groups cannot fill the "
                                 f"{SPLIT_NAMES[s]} split (fractions train/val/test "
                                 f"{share[0]:.2f}/{share[1]:.2f}/{share[2]:.2f}); more groups "
                                 "or larger val/test fractions are needed")
    return tuple(np.flatnonzero(seq_split == s) for s in range(3))  # type: ignore


def given_split(split: np.ndarray, *, key: str, what: str) -> Indices:
    """Indices of a given assignment: every value must be train, val or test; train non-empty.

    Val and test may be empty: the caller carves validation from train, and a data set without
    test sequences has no test split.
    """
    text = np.asarray([str(v).strip() if v is not None else "" for v in split.tolist()])
    bad = ~np.isin(text, SPLIT_NAMES)
    if bad.any():
        values = sorted(set(text[bad].tolist()))
        raise DataError(key, f"{what} holds {', '.join(map(repr, values[:5]))}"
                             f"{' ...' if len(values) > 5 else ''} ({int(bad.sum())} sequences, "
                             "first: sequence "
                             f"{int(np.flatnonzero(bad)[0])}); expected train, val or test")
    parts = tuple(np.flatnonzero(text == name) for name in SPLIT_NAMES)
    if len(parts[0]) == 0:
        raise DataError(key, f"{what} puts no sequence in train")
    return parts  # type: ignore[return-value]
