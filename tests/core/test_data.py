import numpy as np
import pandas as pd
import pytest
import torch

from core.config import DataConfig, LoaderConfig, TaskConfig
from core.data import BatchSource, DataError, from_arrays, generate_synthetic, load_data


def test_synthetic_is_identical_for_identical_seeds():
    a = generate_synthetic(50, 16, 3, 3, 0.5, seed=7)
    b = generate_synthetic(50, 16, 3, 3, 0.5, seed=7)
    c = generate_synthetic(50, 16, 3, 3, 0.5, seed=8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    # Labels are ordered motif pairs: num_motifs**2 classes.
    assert set(a[1].tolist()) <= set(range(9))


def test_split_is_stratified_and_normalised_on_train():
    cfg = DataConfig(val_fraction=0.2, test_fraction=0.2)
    x, y = generate_synthetic(400, 10, 2, 2, 0.5, seed=0)
    d = from_arrays(x, y, None, cfg)
    assert len(d.train) + len(d.val) + len(d.test) == 400
    for part in (d.train, d.val, d.test):
        assert set(part.y.tolist()) == {0, 1, 2, 3}
    # Mean/std come from the train split only: train is standardised, val only approximately.
    flat = d.train.x.reshape(-1, 2)
    assert torch.allclose(flat.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(flat.std(0), torch.ones(2), atol=1e-2)


def test_class_too_small_for_a_split_is_named():
    x = np.zeros((12, 4, 1), np.float32)
    y = np.array([0] * 10 + [1] * 2)
    with pytest.raises(DataError) as info:
        from_arrays(x, y, None, DataConfig(val_fraction=0.2, test_fraction=0.2))
    assert "class '1'" in str(info.value) and "split" in str(info.value)


def test_npz_with_lengths(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 8, 2)).astype(np.float32)
    lengths = rng.integers(3, 9, size=40)
    x[np.arange(8)[None, :] >= lengths[:, None]] = np.nan  # padding may hold anything
    y = np.array(["a", "b"] * 20)
    np.savez(tmp_path / "d.npz", X=x, y=y, lengths=lengths)
    d = load_data(DataConfig(source="npz", path=str(tmp_path / "d.npz")), TaskConfig())
    assert d.class_names == ["a", "b"] and d.train.lengths is not None
    assert torch.isfinite(d.train.x).all()
    # Padding is zero after normalisation.
    i = int(torch.argmin(d.train.lengths))
    assert (d.train.x[i, int(d.train.lengths[i]):] == 0).all()


def test_npz_nan_in_valid_steps_is_an_error(tmp_path):
    x = np.ones((20, 4, 2), np.float32)
    x[3, 1, 0] = np.inf
    np.savez(tmp_path / "d.npz", X=x, y=np.arange(20) % 2)
    with pytest.raises(DataError, match="NaN/inf") as info:
        load_data(DataConfig(source="npz", path=str(tmp_path / "d.npz")), TaskConfig())
    assert info.value.key == "data.path" and "sequence 3, step 1, feature 0" in str(info.value)


def _given_split_with_a_feature_constant_in_train(n=60):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 5, 2)).astype(np.float32)
    split = np.array(["train"] * 40 + ["val"] * 10 + ["test"] * 10)
    x[:40, :, 1] = 0.5  # constant in train only
    return x, np.arange(n) % 2, split


def test_feature_constant_in_train_is_centred_only_with_a_warning_naming_it():
    x, y, split = _given_split_with_a_feature_constant_in_train()
    d = from_arrays(x, y, None, DataConfig(), ["level", "spread"], split=split)
    # centred, not divided by a clamped std: val/test keep their original scale around 0.5
    assert float(d.std[1]) == 1.0 and float(d.mean[1]) == pytest.approx(0.5)
    assert torch.allclose(d.val.x[..., 1], torch.from_numpy(x[40:50, :, 1] - 0.5), atol=1e-6)
    assert float(d.test.x[..., 1].abs().max()) < 10
    assert (d.train.x[..., 1] == 0).all()
    (line,) = d.extras["warnings"]
    assert "'spread' is constant in the train split" in line and "val and test" in line
    # the varying feature is standardised as before, and named in no warning
    assert float(d.std[0]) != 1.0 and "'level'" not in line


def test_feature_constant_everywhere_warns_without_saying_it_varies():
    x = np.random.default_rng(0).standard_normal((40, 5, 2)).astype(np.float32)
    x[:, :, 0] = 3.0
    d = from_arrays(x, np.arange(40) % 2, None, DataConfig())
    (line,) = d.extras["warnings"]
    assert "'f0' is constant" in line and "varies" not in line
    assert (d.val.x[..., 0] == 0).all() and (d.test.x[..., 0] == 0).all()
    assert "warnings" not in from_arrays(x[..., 1:], np.arange(40) % 2, None,
                                         DataConfig()).extras


def test_nan_in_arrays_is_the_same_error_as_in_a_file():
    x = np.ones((20, 4, 2), np.float32)
    x[3, 1, 0] = np.inf
    with pytest.raises(DataError, match="NaN/inf") as info:
        from_arrays(x, np.arange(20) % 2, None, DataConfig())
    assert info.value.key == "data['x']" and "sequence 3, step 1, feature 0" in str(info.value)
    # beyond a sequence's length anything goes, as in a file
    lengths = np.full(20, 4)
    lengths[3] = 1
    from_arrays(x, np.arange(20) % 2, lengths, DataConfig())


def _long_csv(path, n_seq=30, with_label=True, nan=False):
    rows = []
    rng = np.random.default_rng(1)
    for s in range(n_seq):
        for t in range(3 + s % 4):  # lengths 3..6
            row = {"sequence_id": f"s{s}", "time": t, "f1": rng.standard_normal(),
                   "f2": rng.standard_normal()}
            if with_label:
                row["label"] = "up" if s % 2 else "down"
            rows.append(row)
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter
    if nan:
        df.iloc[5, df.columns.get_loc("f2")] = np.nan
    df.to_csv(path, index=False)


def test_long_csv_and_parquet(tmp_path):
    _long_csv(tmp_path / "d.csv")
    d = load_data(DataConfig(source="csv", path=str(tmp_path / "d.csv")), TaskConfig())
    assert d.feature_names == ["f1", "f2"] and d.num_classes == 2
    assert d.train.x.shape[1] == 6
    assert sorted(set(torch.cat([d.train.lengths, d.val.lengths, d.test.lengths]).tolist())) == \
        [3, 4, 5, 6]
    pd.read_csv(tmp_path / "d.csv").to_parquet(tmp_path / "d.parquet")
    p = load_data(DataConfig(source="parquet", path=str(tmp_path / "d.parquet")), TaskConfig())
    assert torch.equal(p.train.x, d.train.x)


@pytest.mark.parametrize("problem,key,words", [
    ("missing_file", "data.path", "file not found"),
    ("no_label", "data.label_column", "column 'label' not in"),
    ("nan", "data.path", "NaN/inf"),
    ("bad_feature", "data.feature_columns", "not in"),
])
def test_long_format_errors(tmp_path, problem, key, words):
    path = tmp_path / "d.csv"
    _long_csv(path, with_label=problem != "no_label", nan=problem == "nan")
    cfg = DataConfig(source="csv", path=str(path if problem != "missing_file"
                                             else tmp_path / "none.csv"),
                     feature_columns=["f1", "zz"] if problem == "bad_feature" else None)
    with pytest.raises(DataError) as info:
        load_data(cfg, TaskConfig())
    assert info.value.key == key and words in str(info.value)


@pytest.mark.parametrize("mode", ["tensor", "dataloader"])
def test_batches_cover_the_split_once_in_seeded_order(mode):
    x, y = generate_synthetic(50, 6, 2, 2, 0.5, seed=0)
    d = from_arrays(x, y, None, DataConfig(val_fraction=0.2, test_fraction=0.2))

    def epochs(seed):
        src = BatchSource(d.train, LoaderConfig(mode=mode), torch.device("cpu"), 7,
                          torch.Generator().manual_seed(seed))
        return [torch.cat([b[0][:, 0, 0] for b in src]) for _ in range(2)]

    first, second = epochs(3)
    # Every sequence exactly once per epoch: the batches are a permutation of the split.
    assert torch.equal(torch.sort(first).values, torch.sort(d.train.x[:, 0, 0]).values)
    # A new order each epoch, and the same orders again from the same seed.
    assert not torch.equal(first, second)
    again = epochs(3)
    assert torch.equal(first, again[0]) and torch.equal(second, again[1])


@pytest.mark.parametrize("raw,key", [
    ({"data": {"source": "npz", "path": "x.npz", "split_column": "split"}}, "data.split_column"),
    ({"data": {"group_column": "subject"}}, "data.group_column"),
    ({"data": {"source": "csv", "path": "x.csv", "label_columns": ["a", "b"]}},
     "data.label_columns"),
    ({"task": {"type": "multilabel"},
      "data": {"source": "csv", "path": "x.csv", "target_columns": ["a"]}},
     "data.target_columns"),
    ({"task": {"type": "multilabel"},
      "data": {"source": "csv", "path": "x.csv", "label_columns": ["a", "a"]}},
     "data.label_columns"),
    ({"data": {"source": "csv", "path": "x.csv", "split_column": "s", "group_column": "s"}},
     "data.group_column"),
    ({"task": {"type": "regression", "positive_class": "1"}}, "task.positive_class"),
])
def test_config_cross_checks_of_data_fields(raw, key):
    from core.config import ConfigError, config_from_dict

    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, "c.yaml")
    assert f"c.yaml: {key}: " in str(info.value)


def test_to_carries_task_and_target_statistics():
    x = np.random.default_rng(0).standard_normal((30, 4, 2)).astype(np.float32)
    d = from_arrays(x, np.linspace(10, 20, 30), None, DataConfig(val_fraction=0.2,
                                                                 test_fraction=0.2),
                    task=TaskConfig(type="regression"))
    moved = d.to(torch.device("cpu"))
    assert moved.task == "regression" and torch.equal(moved.target_mean, d.target_mean)
    assert torch.equal(moved.target_std, d.target_std)
    assert np.array_equal(moved.val.ids, d.val.ids)
    # describe() reports the targets in original units (10..20, mean near 15).
    line = d.describe().splitlines()[1]
    mean = float(line.split("target mean/std y ")[1].split("/")[0])
    assert 13 < mean < 17
