"""The optimizer's parameter groups and the learning-rate schedules."""

import pytest
import torch

from core.config import config_from_dict
from core.optim import build_optimizer, build_scheduler


def _cfg(**sections):
    return config_from_dict(sections, "<test>")


def test_weight_matrices_decay_and_biases_do_not():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    opt = build_optimizer(model, _cfg(optim={"name": "adamw", "weight_decay": 0.05}))
    decay, no_decay = opt.param_groups
    assert [p.shape for p in decay["params"]] == [torch.Size([4, 3])]
    assert decay["weight_decay"] == 0.05
    # the Linear's bias and the LayerNorm's weight and bias
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0
    assert isinstance(build_optimizer(model, _cfg(optim={"name": "sgd"})), torch.optim.SGD)


def test_no_schedule_without_warmup_is_none_and_step_decays_by_gamma():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert build_scheduler(opt, _cfg(schedule={"name": "none"}), steps_per_epoch=5) is None
    cfg = _cfg(schedule={"name": "step", "step_size": 2, "gamma": 0.5})
    sched = build_scheduler(opt, cfg, steps_per_epoch=5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])


@pytest.mark.parametrize("schedule", [{"warmup_steps": 1}, {"warmup_fraction": 0.05}])
def test_onecycle_with_a_one_step_warmup_builds_and_steps(schedule):
    # 30 steps in all: a 5% warmup is one step, which OneCycleLR cannot divide by.
    cfg = _cfg(training={"epochs": 6, "batch_size": 32}, schedule={"name": "onecycle",
                                                                   **schedule})
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, cfg, steps_per_epoch=5)
    for _ in range(30):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] < 0.01  # annealed to the end
