"""Task metrics against scikit-learn on fixed inputs, edge cases included (never NaN)."""

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from core.metrics import best_f1_threshold, compute_metrics

torch.manual_seed(0)


def _multiclass_case(absent_class: bool):
    logits = torch.randn(40, 4)
    y = torch.randint(0, 4, (40,))
    if absent_class:
        y[y == 3] = 0  # class 3 absent from the targets, still predicted sometimes
        logits[:5, 3] += 5.0
    return logits, y


@pytest.mark.parametrize("absent_class", [False, True])
def test_multiclass_matches_scikit_learn(absent_class):
    logits, y = _multiclass_case(absent_class)
    m = compute_metrics("multiclass", logits, y)
    pred = logits.argmax(-1).numpy()
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-6)
    with pytest.warns(UserWarning) if absent_class else _nothing():
        assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred),
                                                       abs=1e-6)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro",
                                                       zero_division=0), abs=1e-6)
    prob = logits.softmax(-1).numpy()
    present = sorted(set(y.tolist()))
    # one-vs-rest AUROC averaged over the classes present in the split
    per_class = [skm.roc_auc_score(y.numpy() == k, prob[:, k]) for k in present]
    assert m["auroc"] == pytest.approx(np.mean(per_class), abs=1e-5)
    if not absent_class:
        assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, prob, multi_class="ovr"),
                                           abs=1e-5)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


BIN_LOGIT = torch.tensor([2.0, 1.5, 0.3, 0.3, -0.2, -1.0, 0.8, -2.0, 0.1, 1.1])
BIN_Y = torch.tensor([1, 1, 0, 1, 0, 0, 1, 0, 0, 0], dtype=torch.float32)


def test_binary_matches_scikit_learn_at_half():
    m = compute_metrics("binary", BIN_LOGIT[:, None], BIN_Y)
    prob = torch.sigmoid(BIN_LOGIT).numpy()
    pred = (prob > 0.5).astype(int)
    assert m["auroc"] == pytest.approx(skm.roc_auc_score(BIN_Y, prob), abs=1e-6)
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(BIN_Y, prob),
                                                   abs=1e-6)
    assert m["f1"] == pytest.approx(skm.f1_score(BIN_Y, pred), abs=1e-6)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(BIN_Y, pred), abs=1e-6)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(BIN_Y, pred),
                                                   abs=1e-6)


def test_best_threshold_maximises_f1_over_every_candidate_and_ties_pick_the_highest():
    prob = torch.sigmoid(BIN_LOGIT)
    t = float(best_f1_threshold(prob, BIN_Y.long()))
    scores = {float(c): skm.f1_score(BIN_Y, (prob >= c).numpy().astype(int))
              for c in prob.unique()}
    best = max(scores.values())
    assert scores[t] == pytest.approx(best)
    assert t == max(c for c, s in scores.items() if s == pytest.approx(best))
    m = compute_metrics("binary", BIN_LOGIT[:, None], BIN_Y)
    assert m["threshold"] == pytest.approx(t) and m["f1_best"] == pytest.approx(best, abs=1e-6)


def test_threshold_chosen_on_validation_is_applied_unchanged_to_test():
    val = compute_metrics("binary", BIN_LOGIT[:, None], BIN_Y)
    test_logit = torch.tensor([0.9, -0.1, 0.35, 2.0, -3.0, 0.2])
    test_y = torch.tensor([1, 0, 1, 1, 0, 0], dtype=torch.float32)
    test = compute_metrics("binary", test_logit[:, None], test_y, threshold=val["threshold"])
    pred = (torch.sigmoid(test_logit) >= val["threshold"]).numpy().astype(int)
    assert test["threshold"] == pytest.approx(val["threshold"])
    assert test["f1_best"] == pytest.approx(skm.f1_score(test_y, pred), abs=1e-6)
    # not the test split's own optimum: that one would be chosen on test
    own = compute_metrics("binary", test_logit[:, None], test_y)
    assert own["threshold"] != pytest.approx(val["threshold"])


@pytest.mark.parametrize("case", ["all_negative", "all_positive", "all_equal_logits", "ties"])
def test_binary_edge_cases_are_defined(case):
    y = {"all_negative": torch.zeros(6), "all_positive": torch.ones(6)}.get(
        case, torch.tensor([1.0, 0, 1, 0, 0, 1]))
    logit = torch.zeros(6) if case == "all_equal_logits" else \
        torch.tensor([1.0, 1.0, 0.0, 0.0, -1.0, -1.0])
    m = compute_metrics("binary", logit[:, None], y)
    assert all(math.isfinite(v) for v in m.values()), m
    if case == "all_negative":
        # AUROC undefined (no positive): 0.5; AP 0; F1 0; the threshold stays 0.5
        assert m["auroc"] == 0.5 and m["average_precision"] == 0.0 and m["f1_best"] == 0.0
        assert m["threshold"] == 0.5
    if case == "all_equal_logits":
        assert m["auroc"] == pytest.approx(0.5)
    if case == "ties":
        prob = torch.sigmoid(logit).numpy()
        assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, prob), abs=1e-6)
        assert m["average_precision"] == pytest.approx(skm.average_precision_score(y, prob),
                                                       abs=1e-6)


def _reference_at_k(prob, y, k):
    recalls, hits = [], []
    for p, t in zip(prob.tolist(), y.tolist(), strict=True):
        if sum(t) == 0:
            continue
        top = sorted(range(len(p)), key=lambda j: -p[j])[:k]
        found = sum(t[j] for j in top)
        recalls.append(found / sum(t))
        hits.append(float(found > 0))
    return np.mean(recalls), np.mean(hits)


def test_multilabel_matches_scikit_learn():
    logits = torch.randn(30, 5)
    y = (torch.rand(30, 5) < 0.35).long()
    y[:, 4] = 0  # a label with no positive in the split
    y[3] = 0  # a sample with no label
    m = compute_metrics("multilabel", logits, y.float(), top_k=2)
    prob = torch.sigmoid(logits).numpy()
    pred = (prob > 0.5).astype(int)
    assert m["micro_f1"] == pytest.approx(skm.f1_score(y, pred, average="micro",
                                                       zero_division=0), abs=1e-6)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro",
                                                       zero_division=0), abs=1e-6)
    # mean AP over the labels with a positive (0-3)
    ap = [skm.average_precision_score(y[:, j], prob[:, j]) for j in range(4)]
    assert m["map"] == pytest.approx(np.mean(ap), abs=1e-5)
    recall, hit = _reference_at_k(prob, y, 2)
    assert m["recall_at_k"] == pytest.approx(recall, abs=1e-6)
    assert m["hit_at_k"] == pytest.approx(hit, abs=1e-6)


def test_multilabel_with_no_positive_at_all_is_defined():
    m = compute_metrics("multilabel", torch.randn(6, 3), torch.zeros(6, 3), top_k=9)
    assert m == {"micro_f1": m["micro_f1"], "macro_f1": m["macro_f1"], "map": 0.0,
                 "recall_at_k": 0.0, "hit_at_k": 0.0}
    assert all(math.isfinite(v) for v in m.values())


def test_regression_metrics_are_in_original_units():
    orig_y = torch.tensor([[10.0, -3.0], [12.0, -1.0], [15.0, 2.0], [11.0, 0.5], [9.0, 4.0]])
    orig_pred = orig_y + torch.tensor([[1.0, 0.5], [-2.0, 0.1], [0.5, -1.0], [0.0, 2.0],
                                       [1.5, 0.0]])
    mean, std = orig_y.mean(0), orig_y.std(0)
    m = compute_metrics("regression", (orig_pred - mean) / std, (orig_y - mean) / std,
                        target_mean=mean, target_std=std)
    rmse = np.mean([skm.mean_squared_error(orig_y[:, j], orig_pred[:, j]) ** 0.5
                    for j in range(2)])
    assert m["rmse"] == pytest.approx(rmse, rel=1e-5)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(orig_y, orig_pred), rel=1e-5)
    assert m["r2"] == pytest.approx(skm.r2_score(orig_y, orig_pred), rel=1e-5)


def test_constant_regression_target_follows_scikit_learn_force_finite():
    y = torch.full((4, 1), 2.0)
    exact = compute_metrics("regression", y.clone(), y)
    off = compute_metrics("regression", y + torch.tensor([[0.1], [0.0], [0.0], [0.0]]), y)
    assert exact["r2"] == skm.r2_score(y, y) == 1.0
    assert off["r2"] == skm.r2_score(y, y + torch.tensor([[0.1], [0.0], [0.0], [0.0]])) == 0.0


def test_empty_split_is_an_error_not_nan():
    with pytest.raises(ValueError, match="empty split"):
        compute_metrics("binary", torch.zeros(0, 1), torch.zeros(0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("task_type", ["multiclass", "binary", "multilabel", "regression"])
def test_metrics_on_the_gpu_equal_the_cpu_ones(task_type):
    logits = torch.randn(64, 3 if task_type != "binary" else 1)
    target = {"multiclass": torch.randint(0, 3, (64,)), "binary": torch.rand(64).round(),
              "multilabel": torch.rand(64, 3).round(), "regression": torch.randn(64, 3)}[task_type]
    kwargs = {"target_mean": torch.ones(3), "target_std": torch.full((3,), 2.0)} \
        if task_type == "regression" else {}
    cpu = compute_metrics(task_type, logits, target, **kwargs)
    gpu = compute_metrics(task_type, logits.cuda(), target.cuda(),
                          **{k: v.cuda() for k, v in kwargs.items()})
    assert gpu == pytest.approx(cpu, abs=1e-5)
