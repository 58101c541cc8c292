"""core.evaluate: a split's sample-weighted loss and metrics, over any batch size."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from core.data import SequenceData
from core.evaluate import evaluate
from core.losses import TaskLoss


class FirstStep(nn.Module):
    """Logits = the first time step's features: the test chooses every prediction."""

    def forward(self, x, lengths):
        return x[:, 0, :]


def _split(logits: torch.Tensor, y: torch.Tensor) -> SequenceData:
    return SequenceData(logits[:, None, :].repeat(1, 2, 1).float(), y, None)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_multiclass_loss_is_the_sample_mean_and_accuracy_counts_samples(batch_size):
    torch.manual_seed(0)
    logits = torch.randn(7, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    out = evaluate(FirstStep(), _split(logits, y), batch_size, torch.device("cpu"), "fp32",
                   TaskLoss("multiclass", "cross_entropy"))
    assert out["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert out["accuracy"] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert all(isinstance(v, float) for v in out.values())


def test_regression_errors_are_in_original_units():
    pred = torch.tensor([[0.0], [1.0], [2.0], [-1.0]])
    y = torch.tensor([[0.5], [1.0], [1.0], [-1.0]])
    mean, std = torch.tensor([10.0]), torch.tensor([2.0])
    out = evaluate(FirstStep(), _split(pred, y), 2, torch.device("cpu"), "fp32",
                   TaskLoss("regression", "mse"), target_mean=mean, target_std=std)
    # standardised errors 0.5, 0, 1, 0 -> original units x2: 1, 0, 2, 0
    assert out["mae"] == pytest.approx(0.75)
    assert out["rmse"] == pytest.approx((5 / 4) ** 0.5)
    assert out["loss"] == pytest.approx((0.25 + 1) / 4)  # the loss stays standardised


def test_binary_threshold_given_is_the_one_f1_best_applies():
    logits = torch.tensor([[-2.0], [-0.5], [0.5], [2.0]])
    y = torch.tensor([0.0, 1.0, 0.0, 1.0])
    found = evaluate(FirstStep(), _split(logits, y), 4, torch.device("cpu"), "fp32",
                     TaskLoss("binary", "bce"))
    assert 0.0 <= found["threshold"] <= 1.0
    strict = evaluate(FirstStep(), _split(logits, y), 4, torch.device("cpu"), "fp32",
                      TaskLoss("binary", "bce"), threshold=0.99)
    assert strict["f1_best"] == 0.0  # nothing predicted positive at 0.99


def test_an_empty_split_is_refused():
    empty = SequenceData(torch.zeros(0, 2, 3), torch.zeros(0, dtype=torch.long), None)
    with pytest.raises(ValueError, match="the split is empty"):
        evaluate(FirstStep(), empty, 4, torch.device("cpu"), "fp32",
                 TaskLoss("multiclass", "cross_entropy"))
