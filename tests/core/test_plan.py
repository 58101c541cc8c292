"""Optimizer steps per epoch and per run, and the small-data problems they reveal."""

import pytest
import torch

from core.config import ConfigError, config_from_dict
from core.optim import build_scheduler
from core.plan import plan_steps


def _cfg(**sections):
    return config_from_dict(sections, "<test>")


@pytest.mark.parametrize("sections,n,steps,total", [
    ({"training": {"epochs": 20, "batch_size": 64}}, 70, 2, 40),  # issue 16 §4's data set
    ({"training": {"epochs": 3, "batch_size": 16}}, 70, 5, 15),
    ({"training": {"epochs": 3, "batch_size": 16}, "loader": {"drop_last": True}}, 70, 4, 12),
    ({"training": {"epochs": 2, "batch_size": 16, "grad_accum_steps": 2}}, 70, 3, 6),
])
def test_steps_per_epoch_and_per_run(sections, n, steps, total):
    plan = plan_steps(_cfg(**sections), n)
    assert (plan.steps_per_epoch, plan.total_steps) == (steps, total)
    assert f"{steps} optimizer steps per epoch, {total} in" in plan.describe()


@pytest.mark.parametrize("sections,n,error,warning", [
    # drop_last with a batch larger than the split: nothing to train on.
    ({"training": {"batch_size": 512}, "loader": {"drop_last": True}}, 250,
     "512 with loader.drop_last leaves no training batch", None),
    ({"training": {"batch_size": 512}}, 250, None, "exceeds the train split (250 sequences)"),
    ({"training": {"batch_size": 64}}, 70, None, "leaves 2 optimizer steps per epoch"),
    # few steps per epoch, but 9 x 150 = 1,350 in all: trained fully, no warning
    ({"training": {"batch_size": 16, "epochs": 150}}, 140, None, None),
    ({"training": {"batch_size": 16, "epochs": 50}}, 140, None,
     "leaves 9 optimizer steps per epoch (450 in 50 epochs)"),
    # 100 warmup steps against 40 in all: the learning rate would peak on the last step.
    ({"training": {"batch_size": 16, "epochs": 8}, "schedule": {"warmup_steps": 100}}, 70, None,
     "the warmup (100 steps) is not shorter than the whole run (40 steps)"),
    ({"training": {"batch_size": 16, "epochs": 8}, "schedule": {"warmup_fraction": 0.1}}, 300,
     None, None),
    ({"training": {"batch_size": 16, "epochs": 8}}, 300, None, None),
])
def test_problems(sections, n, error, warning):
    errors, warnings = plan_steps(_cfg(**sections), n).problems()
    assert len(errors) == (1 if error else 0), errors
    if error:
        assert errors[0][0] == "training.batch_size" and error in errors[0][1]
    if warning:
        assert any(warning in w for w in warnings), warnings
    else:
        assert warnings == []


def test_warmup_fraction_is_a_share_of_the_run_and_exclusive_with_warmup_steps():
    cfg = _cfg(training={"epochs": 4, "batch_size": 10}, schedule={"warmup_fraction": 0.25})
    plan = plan_steps(cfg, 100)  # 10 steps per epoch, 40 in all: 10 of warmup
    assert plan.warmup == 10
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, cfg, plan.steps_per_epoch)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # Linear rise over 10 steps, peak at step 10, then the cosine decay.
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0) and lrs[11] < 1.0
    with pytest.raises(ConfigError, match="schedule.warmup_fraction: give the warmup once"):
        _cfg(schedule={"warmup_fraction": 0.1, "warmup_steps": 5})
    with pytest.raises(ConfigError, match="schedule.warmup_fraction: warmup is not supported"):
        _cfg(schedule={"name": "plateau", "interval": "epoch", "warmup_fraction": 0.1})
