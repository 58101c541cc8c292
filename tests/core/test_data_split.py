"""Splits (core/data/split.py): stratified by default, given splits kept, groups never shared."""

import numpy as np
import pandas as pd
import pytest

from core.config import DataConfig, TaskConfig
from core.data import DataError, from_arrays, load_data


def _x(n):
    return np.random.default_rng(0).standard_normal((n, 4, 2)).astype(np.float32)


def _ids(d):
    return [set(part.ids.tolist()) for part in (d.train, d.val, d.test)]


def test_given_split_is_kept_exactly():
    n = 60
    split = np.asarray(["train"] * 40 + ["val"] * 10 + ["test"] * 10)
    rng = np.random.default_rng(1)
    rng.shuffle(split)
    d = from_arrays(_x(n), np.arange(n) % 2, None, DataConfig(), split=split)
    tr, va, te = _ids(d)
    # Sequence i is in the split its row names, whatever the fractions say.
    assert tr == set(np.flatnonzero(split == "train").tolist())
    assert va == set(np.flatnonzero(split == "val").tolist())
    assert te == set(np.flatnonzero(split == "test").tolist())


def test_train_and_test_given_val_carved_from_train_stratified():
    n = 100
    split = np.asarray(["train"] * 80 + ["test"] * 20)
    y = np.asarray([0, 0, 0, 1] * 25)
    d = from_arrays(_x(n), y, None, DataConfig(val_fraction=0.25), split=split)
    tr, va, te = _ids(d)
    assert te == set(range(80, 100))
    assert tr | va == set(range(80)) and not tr & va
    # A quarter of the given train split, with the class balance of train (15 + 5).
    assert len(va) == 20 and sorted(y[sorted(va)].tolist()) == [0] * 15 + [1] * 5


def test_given_split_without_test_has_an_empty_test_split():
    split = np.asarray(["train"] * 30 + ["val"] * 10)
    d = from_arrays(_x(40), np.arange(40) % 2, None, DataConfig(), split=split)
    assert len(d.test) == 0 and len(d.val) == 10
    assert d.describe().endswith("test        0 sequences (no test split)")


@pytest.mark.parametrize("task,y", [
    ("multiclass", np.arange(120) % 3),
    ("binary", (np.arange(120) % 6 == 0).astype(int)),
    ("regression", np.linspace(0, 1, 120)),
    ("multilabel", np.stack([np.arange(120) % 2, np.arange(120) % 3 == 0], 1).astype(int)),
])
def test_groups_never_span_two_splits(task, y):
    groups = np.asarray([f"subject{i % 17}" for i in range(120)])
    d = from_arrays(_x(120), y, None, DataConfig(val_fraction=0.2, test_fraction=0.2),
                    task=TaskConfig(type=task), groups=groups)
    parts = [set(groups[sorted(ids)].tolist()) for ids in _ids(d)]
    assert all(parts) and sum(len(p) for p in parts) == 17
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    # Close to the asked shares: about 60/20/20 of 120 sequences.
    assert abs(len(d.val) - 24) <= 14 and abs(len(d.test) - 24) <= 14


def test_group_split_is_stratified_where_possible():
    # 40 subjects, each all one class: 10 of class 1, 30 of class 0.
    groups = np.repeat(np.arange(40), 5)
    y = (groups < 10).astype(int)
    d = from_arrays(_x(200), y, None, DataConfig(val_fraction=0.2, test_fraction=0.2),
                    groups=groups)
    for part, share in ((d.train, 0.6), (d.val, 0.2), (d.test, 0.2)):
        counts = np.bincount(part.y.numpy(), minlength=2)
        # Each split gets its share of each class's subjects: 0.6/0.2/0.2 of 150 and of 50.
        assert counts.tolist() == [int(150 * share), int(50 * share)]


def _long(path, n=40, **cols):
    rows = [{"sequence_id": s, "time": t, "f1": float(s + t), "label": s % 2,
             **{k: v(s) for k, v in cols.items()}} for s in range(n) for t in range(3)]
    pd.DataFrame(rows).to_csv(path, index=False)


def test_split_and_group_columns_from_csv_never_leak_and_are_not_features(tmp_path):
    _long(tmp_path / "d.csv", n=60, is_test=lambda s: int(s >= 45),
          split=lambda s: "test" if s >= 45 else "train", subject=lambda s: s // 3)
    cfg = DataConfig(source="csv", path=str(tmp_path / "d.csv"), split_column="split",
                     group_column="subject", val_fraction=0.2, feature_columns=None)
    d = load_data(cfg, TaskConfig())
    tr, va, te = _ids(d)
    assert te == set(range(45, 60))
    subjects = [{s // 3 for s in ids} for ids in (tr, va, te)]
    assert not subjects[0] & subjects[1] and not subjects[0] & subjects[2]
    # Split and group columns are never features; a numeric extra column still is.
    assert d.feature_names == ["f1", "is_test"]


@pytest.mark.parametrize("case,key,words", [
    ("bad value", "data.split_column", "'validation'"),
    ("no train", "data.split_column", "no sequence in train"),
    ("missing group column", "data.group_column", "column 'who' not in"),
    ("missing split column", "data.split_column", "column 'part' not in"),
    ("group in two splits", "data.split_column", "group '0'"),
    ("too few groups", "data.group_column", "groups cannot fill"),
])
def test_split_and_group_errors_name_the_key(tmp_path, case, key, words):
    split = {"bad value": lambda s: "validation" if s == 3 else "train",
             "no train": lambda s: "test" if s % 2 else "val",
             "group in two splits": lambda s: "train" if s != 1 else "test"}.get(
        case, lambda s: "train" if s < 30 else "test")
    _long(tmp_path / "d.csv", part=split, subject=lambda s: 0 if s < 2 else s)
    cfg = DataConfig(source="csv", path=str(tmp_path / "d.csv"), split_column="part",
                     group_column="subject")
    if case == "missing group column":
        cfg.group_column = "who"
    elif case == "missing split column":
        cfg.split_column, cfg.group_column = "part2", None
        words = "column 'part2' not in"
    elif case == "too few groups":
        _long(tmp_path / "d.csv", subject=lambda s: s % 2)
        cfg.split_column = None
    with pytest.raises(DataError) as info:
        load_data(cfg, TaskConfig())
    assert info.value.key == key and words in str(info.value), str(info.value)
    assert str(tmp_path / "d.csv") in str(info.value)


def test_npz_split_and_groups_arrays(tmp_path):
    n = 60
    split = np.asarray(["train"] * 45 + ["test"] * 15)
    groups = np.arange(n) // 3
    np.savez(tmp_path / "d.npz", X=_x(n), y=np.arange(n) % 2, split=split, groups=groups)
    d = load_data(DataConfig(source="npz", path=str(tmp_path / "d.npz")), TaskConfig())
    tr, va, te = _ids(d)
    assert te == set(range(45, 60)) and len(va) > 0
    assert not {i // 3 for i in tr} & {i // 3 for i in va}
    np.savez(tmp_path / "bad.npz", X=_x(n), y=np.arange(n) % 2, split=np.asarray(["x"] * n))
    with pytest.raises(DataError) as info:
        load_data(DataConfig(source="npz", path=str(tmp_path / "bad.npz")), TaskConfig())
    # No config key names an NPZ array: the file's path key, and the array by name.
    assert info.value.key == "data.path" and "array 'split' holds 'x'" in str(info.value)


def test_regression_and_multilabel_split_at_random_with_test_fraction_zero():
    d = from_arrays(_x(50), np.linspace(0, 1, 50), None,
                    DataConfig(val_fraction=0.2, test_fraction=0.0),
                    task=TaskConfig(type="regression"))
    assert (len(d.train), len(d.val), len(d.test)) == (40, 10, 0)
