"""core.data.build: arrays to DataSplits (targets, split, normalisation fitted on train), called
directly (files and their faults: test_data_files.py; splits: test_data_split.py)."""

import numpy as np
import pytest
import torch

from core.config import DataConfig, TaskConfig
from core.data import DataError, from_arrays


def _arrays(n=60, t=5, f=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, size=(n, t, f)).astype(np.float32)
    y = np.arange(n) % 3
    return x, y


def test_features_are_standardised_with_train_statistics_only():
    x, y = _arrays()
    splits = from_arrays(x, y, None, DataConfig())
    train_ids = splits.train.ids
    raw_train = x[train_ids].reshape(-1, x.shape[2]).astype(np.float64)
    assert np.allclose(splits.mean.numpy(), raw_train.mean(0), atol=1e-5)
    assert np.allclose(splits.std.numpy(), raw_train.std(0), atol=1e-5)
    flat = splits.train.x.reshape(-1, x.shape[2])
    assert torch.allclose(flat.mean(0), torch.zeros(2), atol=1e-5)
    assert len(splits.train) + len(splits.val) + len(splits.test) == len(x)
    assert splits.train.lengths is None  # every sequence full length


def test_padding_stays_zero_and_statistics_skip_it():
    x, y = _arrays(t=4)
    lengths = np.where(np.arange(len(x)) % 2 == 0, 4, 2)
    splits = from_arrays(x, y, lengths, DataConfig(val_fraction=0.2, test_fraction=0.2))
    tr = splits.train
    short = tr.lengths == 2
    assert short.any() and tr.x[short][:, 2:].eq(0).all()  # beyond each length: zero
    valid = np.concatenate([x[i, :lengths[i]] for i in tr.ids]).astype(np.float64)
    assert np.allclose(splits.mean.numpy(), valid.mean(0), atol=1e-5)


def test_full_length_sequences_need_no_lengths_and_normalize_can_be_off():
    x, y = _arrays()
    splits = from_arrays(x, y, np.full(len(x), x.shape[1]), DataConfig(normalize=False))
    assert splits.train.lengths is None and splits.mean is None
    assert torch.equal(splits.train.x, torch.from_numpy(x[splits.train.ids]))


def test_regression_targets_are_standardised_on_train_and_a_constant_one_only_centred():
    x, _ = _arrays()
    y = np.stack([np.linspace(0, 10, len(x)), np.full(len(x), 4.0)], axis=1)
    splits = from_arrays(x, y, None, DataConfig(), task=TaskConfig(type="regression"),
                         label_names=["a", "b"])
    mu, sd = y[splits.train.ids].mean(0), y[splits.train.ids].std(0)
    assert np.allclose(splits.target_mean.numpy(), mu, atol=1e-4)
    assert splits.target_std[1].item() == 1.0 and splits.target_std[0].item() == \
        pytest.approx(sd[0], rel=1e-5)
    assert splits.train.y[:, 1].abs().max().item() == 0.0


def test_a_given_split_is_kept_and_an_empty_data_set_refused():
    x, y = _arrays(n=12)
    split = np.array(["train"] * 6 + ["val"] * 3 + ["test"] * 3)
    splits = from_arrays(x, y, None, DataConfig(), split=split)
    assert sorted(splits.val.ids.tolist()) == [6, 7, 8]
    assert sorted(splits.test.ids.tolist()) == [9, 10, 11]
    with pytest.raises(DataError, match="the data set is empty"):
        from_arrays(x[:0], y[:0], None, DataConfig())
