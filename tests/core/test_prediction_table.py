"""core.prediction_table: the predictions table's columns per task type, and its file."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from core.config import config_from_dict
from core.errors import PredictError
from core.prediction_table import Predictions, prediction_frame, write_predictions

IDS = np.array(["a", "b", "c"])


def _cfg(task: str):
    return config_from_dict({"task": {"type": task}, "data": {"label_separator": "|"}}, "c.yaml")


def test_multiclass_rows_hold_each_class_probability_and_the_most_probable_class():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 1.0, 0.0]])
    frame = prediction_frame(IDS, logits, torch.tensor([0, 1, 1]), _cfg("multiclass"),
                             ["x", "y", "z"], None)
    assert list(frame.columns) == ["sequence_id", "prob_x", "prob_y", "prob_z",
                                   "predicted_label", "label"]
    assert frame["predicted_label"].tolist() == ["x", "z", "y"]
    assert frame["label"].tolist() == ["x", "y", "y"]
    assert frame[["prob_x", "prob_y", "prob_z"]].sum(axis=1).tolist() == pytest.approx([1] * 3)
    assert frame["prob_x"][0] == pytest.approx(math.exp(2) / (math.exp(2) + 2))


def test_binary_rows_cut_at_the_runs_threshold_and_without_one_at_a_half():
    logits = torch.tensor([[0.0], [-0.5], [1.0]])  # probabilities 0.5, 0.38, 0.73
    at_run = prediction_frame(IDS, logits, None, _cfg("binary"), ["neg", "pos"], 0.3)
    assert at_run["predicted_label"].tolist() == ["pos", "pos", "pos"]
    assert "label" not in at_run and at_run["threshold"].tolist() == [0.3] * 3
    plain = prediction_frame(IDS, logits, torch.tensor([1.0, 0.0, 1.0]), _cfg("binary"),
                             ["neg", "pos"], None)
    assert plain["predicted_label"].tolist() == ["pos", "neg", "pos"]  # 0.5 reaches 0.5
    assert plain["label"].tolist() == ["pos", "neg", "pos"]
    assert list(plain.columns) == ["sequence_id", "prob_pos", "predicted_label", "threshold",
                                   "label"]


def test_multilabel_rows_join_the_labels_scoring_a_half_with_the_separator():
    logits = torch.tensor([[1.0, 1.0], [-1.0, 2.0], [-1.0, -1.0]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    frame = prediction_frame(IDS, logits, y, _cfg("multilabel"), ["cat", "dog"], None)
    assert frame["predicted_labels"].tolist() == ["cat|dog", "dog", ""]
    assert frame["labels"].tolist() == ["cat", "dog", ""]


def test_regression_rows_are_in_the_targets_original_units():
    mean, std = torch.tensor([10.0, -1.0]), torch.tensor([2.0, 0.5])
    logits = torch.tensor([[0.0, 0.0], [1.0, -2.0], [-0.5, 4.0]])
    frame = prediction_frame(IDS, logits, logits.clone(), _cfg("regression"), ["t", "u"], None,
                             mean, std)
    assert frame["pred_t"].tolist() == [10.0, 12.0, 9.0]
    assert frame["pred_u"].tolist() == [-1.0, -2.0, 1.0]
    assert frame["target_t"].tolist() == frame["pred_t"].tolist()  # several targets: named
    one = prediction_frame(IDS, logits[:, :1], logits[:, :1], _cfg("regression"), ["t"], None,
                           mean[:1], std[:1])
    assert "label" in one and one["label"].tolist() == [10.0, 12.0, 9.0]


def test_the_table_is_written_as_csv_or_parquet_and_another_suffix_is_refused(tmp_path):
    frame = pd.DataFrame({"sequence_id": IDS, "pred_t": [1.0, 2.0, 3.0]})
    result = Predictions(frame, None, torch.zeros(3, 1))
    write_predictions(result, tmp_path / "p.csv")
    write_predictions(result, tmp_path / "p.parquet")
    for read in (pd.read_csv(tmp_path / "p.csv"), pd.read_parquet(tmp_path / "p.parquet")):
        assert read["sequence_id"].tolist() == IDS.tolist()
        assert read["pred_t"].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(PredictError, match="unknown output format"):
        write_predictions(result, tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()
