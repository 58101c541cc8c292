"""Targets per task type (core/data/targets.py), read from NPZ arrays and long-format tables."""

import numpy as np
import pandas as pd
import pytest
import torch

from core.config import DataConfig, TaskConfig
from core.data import DataError, load_data


def _npz(path, y, n=40, **arrays):
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.standard_normal((n, 5, 2)).astype(np.float32), y=y, **arrays)
    return DataConfig(source="npz", path=str(path), val_fraction=0.25, test_fraction=0.25)


def _long(path, per_seq, n=40, steps=3, **cfg):
    """A CSV with ``n`` sequences; ``per_seq(s)`` gives the sequence's constant columns."""
    rng = np.random.default_rng(1)
    rows = [{"sequence_id": f"s{s:02d}", "time": t, "f1": rng.standard_normal(), **per_seq(s)}
            for s in range(n) for t in range(steps)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return DataConfig(source="csv", path=str(path), val_fraction=0.25, test_fraction=0.25, **cfg)


def _all_y(d):
    return torch.cat([d.train.y, d.val.y, d.test.y]), np.concatenate([d.train.ids, d.val.ids,
                                                                      d.test.ids])


@pytest.mark.parametrize("labels,positive,expected_names", [
    ([0, 1], None, ["0", "1"]),
    ([False, True], None, ["False", "True"]),
    (["false", "true"], None, ["false", "true"]),
    (["healthy", "seizure"], "seizure", ["healthy", "seizure"]),
    (["yes", "no"], "no", ["yes", "no"]),
])
def test_binary_from_npz_positive_class_stated_or_inferred(tmp_path, labels, positive,
                                                           expected_names):
    y = np.asarray([labels[i % 4 == 0] for i in range(40)])  # every 4th is the second label
    d = load_data(_npz(tmp_path / "d.npz", y), TaskConfig(type="binary", positive_class=positive))
    ally, ids = _all_y(d)
    assert d.task == "binary" and d.num_outputs == 1 and d.class_names == expected_names
    assert ally.dtype == torch.float32 and ally.ndim == 1
    # Row i is positive exactly when its label is the positive class.
    positive_label = str(expected_names[1])
    want = np.asarray([str(y[i]) == positive_label or
                       (positive is None and str(y[i]).lower() == positive_label.lower())
                       for i in ids], dtype=np.float32)
    assert np.array_equal(ally.numpy(), want)


def test_binary_positive_class_as_yaml_reads_it_a_number_or_a_boolean(tmp_path):
    from core.config import config_from_dict

    # `positive_class: 2` and `positive_class: true` unquoted in YAML: the label's text decides.
    for labels, value, positive in (([1, 2], 2, "2"), (["False", "True"], True, "True")):
        y = np.asarray([labels[i % 4 == 0] for i in range(40)])
        task = config_from_dict({"task": {"type": "binary", "positive_class": value}}).task
        d = load_data(_npz(tmp_path / "d.npz", y), task)
        assert d.class_names[1] == positive


def test_binary_without_known_pair_needs_positive_class(tmp_path):
    y = np.asarray(["a", "b"] * 20)
    with pytest.raises(DataError) as info:
        load_data(_npz(tmp_path / "d.npz", y), TaskConfig(type="binary"))
    assert info.value.key == "task.positive_class" and "'a', 'b'" in str(info.value)
    with pytest.raises(DataError) as info:
        load_data(_npz(tmp_path / "d.npz", y), TaskConfig(type="binary", positive_class="c"))
    assert info.value.key == "task.positive_class" and "'c'" in str(info.value)


def test_binary_from_csv_true_false(tmp_path):
    cfg = _long(tmp_path / "d.csv", lambda s: {"label": s % 3 == 0})
    d = load_data(cfg, TaskConfig(type="binary"))
    ally, ids = _all_y(d)
    assert d.class_names == ["False", "True"]
    assert np.array_equal(ally.numpy(), [float(int(i[1:]) % 3 == 0) for i in ids])


def test_multilabel_from_npz(tmp_path):
    rng = np.random.default_rng(2)
    y = (rng.random((40, 3)) < 0.4).astype(np.int64)
    cfg = _npz(tmp_path / "d.npz", y, label_names=np.asarray(["a", "b", "c"]))
    d = load_data(cfg, TaskConfig(type="multilabel"))
    ally, ids = _all_y(d)
    assert d.class_names == ["a", "b", "c"] and d.num_outputs == 3
    assert ally.dtype == torch.float32 and torch.equal(ally, torch.from_numpy(y[ids]).float())


def test_multilabel_from_csv_columns_and_separated_labels(tmp_path):
    def labels(s):
        return {"a": int(s % 2 == 0), "b": int(s % 3 == 0), "c": int(s % 5 == 0)}

    cols = load_data(_long(tmp_path / "c.csv", labels, label_columns=["a", "b", "c"]),
                     TaskConfig(type="multilabel"))

    def joined(s):
        return {"label": "|".join(k for k, v in labels(s).items() if v)}  # "" -> no label

    sep = load_data(_long(tmp_path / "s.csv", joined), TaskConfig(type="multilabel"))
    for d in (cols, sep):
        ally, ids = _all_y(d)
        want = np.asarray([list(labels(int(i[1:])).values()) for i in ids], np.float32)
        assert d.class_names == ["a", "b", "c"] and np.array_equal(ally.numpy(), want)
        # The label columns are never features.
        assert d.feature_names == ["f1"]


@pytest.mark.parametrize("shape", [(40,), (40, 2)])
def test_regression_from_npz_standardised_with_train_statistics(tmp_path, shape):
    rng = np.random.default_rng(3)
    y = rng.normal(50.0, 7.0, size=shape)
    d = load_data(_npz(tmp_path / "d.npz", y), TaskConfig(type="regression"))
    dims = 1 if len(shape) == 1 else shape[1]
    assert d.train.y.shape == (len(d.train), dims) and d.num_outputs == dims
    assert d.target_mean.shape == (dims,) and d.target_std.shape == (dims,)
    raw_train = y.reshape(40, -1)[d.train.ids]
    # Standardised with the train split's own mean and std...
    assert torch.allclose(d.train.y.double().mean(0), torch.zeros(dims, dtype=torch.float64),
                          atol=1e-6)
    assert np.allclose(d.target_mean.numpy(), raw_train.mean(0), rtol=1e-6)
    # ... and target_mean/target_std restore the original units in every split.
    for part in (d.train, d.val, d.test):
        restored = part.y * d.target_std + d.target_mean
        assert np.allclose(restored.numpy(), y.reshape(40, -1)[part.ids], rtol=1e-5)


def test_regression_from_csv_target_columns_and_label_column(tmp_path):
    cfg = _long(tmp_path / "d.csv", lambda s: {"t1": s * 0.5, "t2": -s},
                target_columns=["t1", "t2"])
    d = load_data(cfg, TaskConfig(type="regression"))
    assert d.class_names == ["t1", "t2"] and d.feature_names == ["f1"]
    ids = d.test.ids
    restored = (d.test.y * d.target_std + d.target_mean).numpy()
    assert np.allclose(restored, [[int(i[1:]) * 0.5, -int(i[1:])] for i in ids], rtol=1e-5)
    one = load_data(_long(tmp_path / "e.csv", lambda s: {"label": s / 7}),
                    TaskConfig(type="regression"))
    assert one.class_names == ["label"] and one.val.y.shape == (len(one.val), 1)


def test_multiclass_whole_floats_are_classes(tmp_path):
    d = load_data(_npz(tmp_path / "d.npz", np.asarray([1.0, 2.0] * 20)), TaskConfig())
    assert d.class_names == ["1", "2"] and d.train.y.dtype == torch.int64


# (task type, how the file is written, the key the error names, words it says)
BAD = [
    ("float label under multiclass (NPZ)", "multiclass", "npz", np.linspace(0, 1, 40),
     "task.type", "array 'y' holds non-integer numbers"),
    ("float label under multiclass (CSV)", "multiclass", "csv", lambda s: {"label": s / 7},
     "data.label_column", "task.type: regression"),
    ("[N, K] under multiclass", "multiclass", "npz", np.zeros((40, 3)), "task.type",
     "array 'y' has shape [40, 3]"),
    ("three classes under binary", "binary", "npz", np.arange(40) % 3, "task.type",
     "3 distinct values"),
    ("three classes under binary (CSV)", "binary", "csv", lambda s: {"label": s % 3},
     "data.label_column", "3 distinct values"),
    ("[N] under multilabel", "multilabel", "npz", np.arange(40) % 2, "task.type",
     "array 'y' has shape [40]: task.type multilabel needs [N, K] of 0/1"),
    ("counts under multilabel", "multilabel", "npz", np.full((40, 3), 2), "task.type",
     "holds 2"),
    ("non-binary label column", "multilabel", "csv_cols", lambda s: {"a": s % 3, "b": 1},
     "data.label_columns", "holds 2"),
    ("text under regression", "regression", "npz", np.asarray(["x", "y"] * 20), "task.type",
     "task.type regression needs numbers"),
    ("text under regression (CSV)", "regression", "csv", lambda s: {"label": f"v{s}"},
     "data.label_column", "task.type regression needs numbers"),
    ("NaN target", "regression", "npz", np.where(np.arange(40) == 5, np.nan, 1.0), "task.type",
     "NaN/inf"),
    ("[N, D, E] under regression", "regression", "npz", np.zeros((40, 2, 2)), "task.type",
     "[N] or [N, D]"),
    ("one class", "multiclass", "npz", np.zeros(40, np.int64), "task.type", "at least 2"),
    ("label not constant", "multiclass", "csv_varying", None, "data.label_column",
     "not constant within the sequence of"),
]


@pytest.mark.parametrize("name,task,fmt,y,key,words", BAD, ids=[b[0] for b in BAD])
def test_bad_targets_name_the_key_and_the_file(tmp_path, name, task, fmt, y, key, words):
    if fmt == "npz":
        cfg = _npz(tmp_path / "d.npz", y)
    elif fmt == "csv_cols":
        cfg = _long(tmp_path / "d.csv", y, label_columns=["a", "b"])
    elif fmt == "csv_varying":
        cfg = _long(tmp_path / "d.csv", lambda s: {})
        df = pd.read_csv(cfg.path)
        df["label"] = np.arange(len(df)) % 2
        df.to_csv(cfg.path, index=False)
    else:
        cfg = _long(tmp_path / "d.csv", y)
    with pytest.raises(DataError) as info:
        load_data(cfg, TaskConfig(type=task))
    err = info.value
    assert err.key == key and words in str(err), str(err)
    # The data file is named after the key, and an NPZ error never names a CSV column key.
    assert str(err).startswith(f"{key}: {cfg.path}: ")
    if fmt == "npz":
        assert "column" not in str(err)
