"""The baselines: official split loading, constant predictors, metrics and the hand-written GRU."""

from pathlib import Path

import numpy as np
import pytest

from benchmarks.baselines import constant_predictions, load_official, score, train_gru

DATA = Path(__file__).resolve().parents[1] / "data"


def test_binary_labels_put_the_positive_class_at_one():
    (x, lengths, y), (xt, _, yt) = load_official(str(DATA / "italy_power_demand.npz"), "binary",
                                                 positive="2")
    assert x.shape == (67, 24, 1) and xt.shape == (1029, 24, 1) and (lengths == 24).all()
    # ItalyPowerDemand's train split has 34 cases of class 1 and 33 of class 2
    assert y.sum() == 33 and set(np.unique(yt)) == {0, 1}
    with pytest.raises(ValueError, match="--positive"):
        load_official(str(DATA / "italy_power_demand.npz"), "binary", positive="3")


def test_constant_predictors_score_as_their_definitions():
    y_train, y_test = np.array([0, 0, 1]), np.array([0, 1, 1, 1])
    m = score("binary", y_test, constant_predictions(y_train, 4, "binary"))
    # majority class 0 is right once in four; a constant score ranks nothing: AUROC 0.5
    assert m == {"auroc": 0.5, "accuracy": 0.25}
    m = score("multiclass", np.array([2, 2, 1]),
              constant_predictions(np.array([2, 1, 2, 0]), 3, "multiclass"))
    assert m["accuracy"] == pytest.approx(2 / 3)
    m = score("regression", np.array([1.0, 3.0]),
              constant_predictions(np.array([0.0, 4.0]), 2, "regression"))
    assert m["rmse"] == pytest.approx(1.0)


def test_hand_written_gru_trains_on_variable_length_data_and_is_seeded():
    train, test = load_official(str(DATA / "japanese_vowels.npz"), "multiclass")
    assert train[1].min() < train[1].max()  # variable lengths
    sub = tuple(a[::7] for a in train), tuple(a[:30] for a in test)  # every speaker in train
    a, b = (train_gru(*sub, "multiclass", seed=0, epochs=2) for _ in range(2))
    assert a.shape == (30, 9) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)


def test_hand_written_gru_regression_predicts_in_target_units():
    train, test = load_official(str(DATA / "covid3month.npz"), "regression")
    pred = train_gru(train, test, "regression", seed=0, epochs=1)
    # targets are death rates in [0, 0.2]: predictions are de-standardised, not z-scores
    assert pred.shape == (61,) and np.abs(pred - train[2].mean()).max() < 0.2
