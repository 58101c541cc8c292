"""core.data.folds: cross-validation folds of the non-test sequences (data.cv_folds)."""

import numpy as np
import pytest

from core.config import config_from_dict
from core.data import DataError, from_arrays, load_data


def _arrays(n=120, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 2)).astype(np.float32)
    y = np.arange(n) % classes
    return x, y


def _cfg(**data):
    return config_from_dict({"data": {"source": "npz", "path": "unused.npz", **data}})


def _ids(part) -> set:
    return set(part.ids.tolist())


def test_folds_are_stratified_disjoint_and_cover_train_without_test():
    x, y = _arrays()
    ids = np.asarray([f"s{i}" for i in range(len(x))])
    data = from_arrays(x, y, None, _cfg(cv_folds=4, test_fraction=0.2).data, ids=ids)
    assert len(data.val) == 0 and len(data.folds) == 4
    train, test = _ids(data.train), _ids(data.test)
    assert not train & test and len(train) + len(test) == len(x)
    seen: set = set()
    for k in range(4):
        fold = data.fold(k)
        fit, val = _ids(fold.train), _ids(fold.val)
        assert not fit & val and fit | val == train  # no leak: a fold never trains on its val
        assert not val & seen  # every sequence validates in exactly one fold
        seen |= val
        assert not (fit | val) & test
        # stratified: each class is a third of every validation fold (+-1)
        counts = np.bincount(fold.val.y.numpy(), minlength=3)
        assert counts.max() - counts.min() <= 1
    assert seen == train


def test_the_folds_follow_the_split_seed():
    x, y = _arrays()
    a = from_arrays(x, y, None, _cfg(cv_folds=3, split_seed=1).data)
    b = from_arrays(x, y, None, _cfg(cv_folds=3, split_seed=1).data)
    c = from_arrays(x, y, None, _cfg(cv_folds=3, split_seed=2).data)
    assert all(np.array_equal(fa[1], fb[1]) for fa, fb in zip(a.folds, b.folds, strict=True))
    assert any(not np.array_equal(fa[1], fc[1]) for fa, fc in zip(a.folds, c.folds, strict=True))


def test_groups_stay_whole_within_one_fold():
    x, y = _arrays(n=120)
    groups = np.asarray([f"subject{i // 4}" for i in range(len(x))])  # 30 groups of 4
    ids = np.arange(len(x))
    data = from_arrays(x, y, None, _cfg(cv_folds=5, test_fraction=0.2).data, groups=groups,
                       ids=ids)
    group_of = dict(zip(ids.tolist(), groups.tolist(), strict=True))
    test_groups = {group_of[i] for i in _ids(data.test)}
    fold_of_group: dict = {}
    for k in range(5):
        fold = data.fold(k)
        val_groups = {group_of[i] for i in _ids(fold.val)}
        fit_groups = {group_of[i] for i in _ids(fold.train)}
        assert not val_groups & fit_groups and not (val_groups | fit_groups) & test_groups
        for g in val_groups:
            assert fold_of_group.setdefault(g, k) == k


def test_regression_folds_span_the_target_range():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5, 1)).astype(np.float32)
    y = np.sort(rng.normal(size=200)).astype(np.float32)  # sorted: unbinned folds would not mix
    cfg = config_from_dict({"task": {"type": "regression"},
                            "data": {"source": "npz", "path": "u.npz", "cv_folds": 4,
                                     "test_fraction": 0.0}})
    data = from_arrays(x, y, None, cfg.data, task=cfg.task)
    for k in range(4):
        v = data.fold(k).val.y.numpy().ravel()
        assert v.min() < -1.0 and v.max() > 1.0  # standardised: both tails in every fold


def test_tied_regression_targets_leave_no_bin_smaller_than_the_fold_count(recwarn):
    # CardanoSentiment's train targets: many sequences at exactly 0, so quantile bins came out
    # [8, 7, 2, 13, ...] for 5 folds and scikit-learn warned that a bin had 2 members.
    y = np.concatenate([np.linspace(-0.5, -0.1, 20), np.zeros(15), np.linspace(0.1, 0.8, 39)])
    cfg = config_from_dict({"task": {"type": "regression"},
                            "data": {"source": "npz", "path": "u.npz", "cv_folds": 5,
                                     "test_fraction": 0.0}})
    x = np.zeros((len(y), 4, 1), np.float32)
    data = from_arrays(x, y.astype(np.float32), None, cfg.data, task=cfg.task)
    assert sorted(np.concatenate([va for _, va in data.folds]).tolist()) == list(range(len(y)))
    assert not [w for w in recwarn if "least populated class" in str(w.message)]
    from core.data.folds import _regression_bins

    counts = np.bincount(_regression_bins(y, 5))
    assert counts.min() >= 5 and counts.sum() == len(y)


def test_a_given_split_keeps_its_test_and_makes_folds_of_train():
    x, y = _arrays(n=60)
    split = np.asarray(["test" if i % 5 == 0 else "train" for i in range(60)])
    data = from_arrays(x, y, None, _cfg(cv_folds=3).data, split=split, ids=np.arange(60))
    assert _ids(data.test) == {i for i in range(60) if i % 5 == 0}
    assert sum(len(va) for _, va in data.folds) == len(data.train) == 48


@pytest.mark.parametrize("data_cfg, split, words", [
    ({"cv_folds": 50}, None, "has 40 non-test sequences"),  # 120 / 3 classes, 0 test
    ({"cv_folds": 3}, "val", "val sequences"),
])
def test_bad_folds_name_the_key(data_cfg, split, words):
    x, y = _arrays()
    given = None if split is None else \
        np.asarray([("train", "val", "test")[i % 3] for i in range(len(x))])
    with pytest.raises(DataError) as exc:
        from_arrays(x, y, None, _cfg(test_fraction=0.0, **data_cfg).data, split=given)
    assert exc.value.key == "data.cv_folds" and words in exc.value.message


def test_synthetic_data_take_cv_folds():
    cfg = config_from_dict({"data": {"cv_folds": 3, "synthetic": {"num_samples": 200,
                                                                  "seq_len": 8}}})
    data = load_data(cfg.data, cfg.task)
    assert len(data.folds) == 3 and "3 folds" in data.describe()
