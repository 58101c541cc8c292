"""One eager training step: clipping order, accumulation weights, the finite-loss check."""

import pytest
import torch

from core.errors import NonFiniteLossError
from core.step import check_finite, group_weights, optimizer_step


def test_clip_sees_unscaled_gradients_and_runs_before_step(monkeypatch):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    x = torch.randn(8, 4)
    model(x).pow(2).sum().backward()
    true_norm = torch.norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    model.zero_grad()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale(model(x).pow(2).sum()).backward()  # gradients are 1024 times too large here
    events = []
    real_clip = torch.nn.utils.clip_grad_norm_
    real_step = opt.step

    def clip(params, max_norm, *a, **k):
        params = list(params)
        events.append(("clip", torch.norm(torch.stack([p.grad.norm() for p in params]))))
        return real_clip(params, max_norm, *a, **k)

    def step(*a, **k):
        events.append(("step", None))
        return real_step(*a, **k)

    opt.step = step
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    optimizer_step(model, opt, scaler, clip_norm=0.5)
    assert [e[0] for e in events] == ["clip", "step"]
    # The norm clipping saw is the true gradient norm, not 1024 times it.
    assert float(events[0][1]) == pytest.approx(float(true_norm), rel=1e-5)


@pytest.mark.parametrize("num_batches,batch,n,accum,drop_last,expected", [
    (3, 4, 12, 1, False, [1.0, 1.0, 1.0]),
    # the last group holds 4 + 2 samples: its micro-batches weigh 4/6 and 2/6
    (4, 4, 14, 2, False, [0.5, 0.5, 4 / 6, 2 / 6]),
    # drop_last: every batch is full
    (3, 4, 14, 2, True, [0.5, 0.5, 1.0]),
])
def test_group_weights_average_over_each_groups_samples(num_batches, batch, n, accum, drop_last,
                                                        expected):
    weights = group_weights(num_batches, batch, n, accum, drop_last)
    assert weights == pytest.approx(expected)


def test_check_finite_names_the_epoch_and_step():
    check_finite(torch.tensor(1.5), epoch=1, step=3)  # finite: nothing happens
    with pytest.raises(NonFiniteLossError, match="epoch 2 \\(by optimizer step 7\\)"):
        check_finite(torch.tensor(float("inf")), epoch=2, step=7)
