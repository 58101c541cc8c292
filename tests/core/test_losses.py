"""Each task loss against its PyTorch (or paper) definition on fixed tensors."""

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch.nn import functional as F

from core.config import TaskConfig
from core.losses import LossSetupError, build_loss, class_weights, positive_weights

torch.manual_seed(0)
LOGITS = torch.randn(12, 4)
Y = torch.tensor([0, 1, 2, 3, 0, 0, 0, 1, 1, 2, 0, 0])
NAMES = ["a", "b", "c", "d"]
BIN_LOGITS = torch.randn(12, 1)
BIN_Y = torch.tensor([1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0], dtype=torch.float32)
ML_LOGITS = torch.randn(12, 3)
ML_Y = (torch.rand(12, 3) < 0.4).float()
ML_Y[0] = 1.0  # every label has a positive
REG_PRED, REG_Y = torch.randn(12, 2), torch.randn(12, 2)


def _loss(train_y, names=NAMES, **task):
    return build_loss(TaskConfig(**task), train_y, names)


def test_cross_entropy_is_torch_cross_entropy_with_label_smoothing():
    loss = _loss(Y, type="multiclass", label_smoothing=0.1)
    assert torch.allclose(loss(LOGITS, Y), F.cross_entropy(LOGITS, Y, label_smoothing=0.1))
    assert loss.name == "cross_entropy"  # the multiclass default


def test_balanced_class_weights_match_scikit_learn_and_average_one_on_train():
    w = class_weights(TaskConfig(class_weight="balanced"), Y, NAMES)
    expected = compute_class_weight("balanced", classes=np.arange(4), y=Y.numpy())
    assert torch.allclose(w, torch.tensor(expected, dtype=torch.float32))
    assert w[Y].mean().item() == pytest.approx(1.0)  # the weighted loss keeps its scale


def test_weighted_cross_entropy_is_a_mean_of_weighted_per_sample_losses():
    loss = _loss(Y, type="multiclass", class_weight=[1.0, 2.0, 0.5, 3.0])
    w = torch.tensor([1.0, 2.0, 0.5, 3.0])
    per = F.cross_entropy(LOGITS, Y, weight=w, reduction="none")
    assert torch.allclose(loss(LOGITS, Y), per.mean())
    # a mean over samples, so halves of a batch add up to the batch (accumulation is exact)
    halves = (loss(LOGITS[:5], Y[:5]) * 5 + loss(LOGITS[5:], Y[5:]) * 7) / 12
    assert torch.allclose(halves, loss(LOGITS, Y))


def test_multiclass_focal_follows_lin_et_al():
    loss = _loss(Y, type="multiclass", loss="focal", focal_gamma=2.0, class_weight=[1, 2, 3, 4])
    p = LOGITS.softmax(-1)[torch.arange(12), Y]
    alpha = torch.tensor([1.0, 2, 3, 4])[Y]
    assert torch.allclose(loss(LOGITS, Y), (-alpha * (1 - p) ** 2 * p.log()).mean(), atol=1e-6)
    # gamma 0 without weights is cross-entropy
    plain = _loss(Y, type="multiclass", loss="focal", focal_gamma=0.0)
    assert torch.allclose(plain(LOGITS, Y), F.cross_entropy(LOGITS, Y), atol=1e-6)


@pytest.mark.parametrize("pos_weight", ["none", 3.0, "balanced"])
def test_binary_bce_is_bce_with_logits_and_pos_weight(pos_weight):
    loss = _loss(BIN_Y, ["neg", "pos"], type="binary", pos_weight=pos_weight)
    pw = {"none": None, 3.0: torch.tensor([3.0]), "balanced": torch.tensor([9 / 3])}[pos_weight]
    expected = F.binary_cross_entropy_with_logits(BIN_LOGITS.squeeze(1), BIN_Y, pos_weight=pw)
    assert torch.allclose(loss(BIN_LOGITS, BIN_Y), expected)


def test_multilabel_bce_with_balanced_pos_weight_per_label():
    loss = _loss(ML_Y, ["x", "y", "z"], type="multilabel", pos_weight="balanced")
    pos = ML_Y.sum(0)
    pw = (12 - pos) / pos
    assert torch.allclose(loss.pos_weight, pw)
    expected = F.binary_cross_entropy_with_logits(ML_LOGITS, ML_Y, pos_weight=pw)
    assert torch.allclose(loss(ML_LOGITS, ML_Y), expected)


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_sigmoid_focal_follows_lin_et_al(alpha):
    # torchvision.ops.sigmoid_focal_loss's definition, mean over all elements
    loss = _loss(ML_Y, ["x", "y", "z"], type="multilabel", loss="focal", focal_alpha=alpha)
    p = torch.sigmoid(ML_LOGITS)
    ce = F.binary_cross_entropy_with_logits(ML_LOGITS, ML_Y, reduction="none")
    p_t = p * ML_Y + (1 - p) * (1 - ML_Y)
    expected = ce * (1 - p_t) ** 2
    if alpha is not None:
        expected = expected * (alpha * ML_Y + (1 - alpha) * (1 - ML_Y))
    assert torch.allclose(loss(ML_LOGITS, ML_Y), expected.mean(), atol=1e-7)


@pytest.mark.parametrize("name, reference", [
    ("mse", lambda p, y: F.mse_loss(p, y)),
    ("mae", lambda p, y: F.l1_loss(p, y)),
    ("huber", lambda p, y: F.huber_loss(p, y, delta=0.5)),
])
def test_regression_losses_are_torch_losses(name, reference):
    loss = _loss(REG_Y, ["t0", "t1"], type="regression", loss=name, huber_delta=0.5)
    assert torch.allclose(loss(REG_PRED, REG_Y), reference(REG_PRED, REG_Y))
    assert loss(REG_PRED, REG_Y, reduction="none").shape == (12,)


def test_defaults_per_type():
    assert _loss(BIN_Y, ["n", "p"], type="binary").name == "bce"
    assert _loss(ML_Y, ["x", "y", "z"], type="multilabel").name == "bce"
    assert _loss(REG_Y, ["t0", "t1"], type="regression").name == "mse"


def test_weights_that_do_not_fit_the_data_name_the_key():
    with pytest.raises(LossSetupError, match=r"task.class_weight: expected 4 numbers.*got 3"):
        class_weights(TaskConfig(class_weight=[1.0, 2.0, 3.0]), Y, NAMES)
    with pytest.raises(LossSetupError, match=r"task.class_weight: .*\['d'\] have no train"):
        class_weights(TaskConfig(class_weight="balanced"), Y[Y != 3], NAMES)
    with pytest.raises(LossSetupError, match="task.pos_weight: .*label"):
        positive_weights(TaskConfig(type="binary", pos_weight="balanced"), torch.zeros(5))
