"""core.train_state: the state a checkpoint holds, captured and restored (a resumed run's exact
continuation end to end: test_loop.py, test_run.py)."""

import dataclasses

import pytest
import torch
from torch import nn

from core.config import Config
from core.data import DataSplits, SequenceData
from core.errors import TrainingError
from core.train_state import new_counters, restore_state, training_state


def _parts(seed: int):
    torch.manual_seed(seed)
    model = nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    gen = torch.Generator().manual_seed(seed)
    return model, opt, sched, gen


def _data():
    split = SequenceData(torch.zeros(2, 1, 3), torch.zeros(2, dtype=torch.long), None)
    return DataSplits(split, split, split, ["a", "b"], ["f0", "f1", "f2"],
                      mean=torch.zeros(3), std=torch.ones(3))


def test_a_state_restored_into_fresh_objects_continues_where_it_was():
    cfg = Config()
    model, opt, sched, gen = _parts(0)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
    counters = {**new_counters(), "epoch": 2, "global_step": 10, "best_metric": 0.7,
                "best_epoch": 1, "history": [{"epoch": 1, "val_loss": 0.5}]}
    state = training_state(cfg, model, opt, sched, None, gen, _data(), counters)
    assert state["class_names"] == ["a", "b"] and state["scaler"] is None
    twin = torch.Generator()
    twin.set_state(gen.get_state())
    expected_draw = torch.rand(3, generator=twin)
    torch_draw = torch.rand(2)  # the global RNG after the capture

    model2, opt2, sched2, gen2 = _parts(1)
    restored = restore_state(state, cfg, model2, opt2, sched2, None, gen2)
    assert restored == counters and restored["history"] is not counters["history"]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 model2.state_dict().values(), strict=True))
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert torch.equal(torch.rand(3, generator=gen2), expected_draw)  # the data order's
    assert torch.equal(torch.rand(2), torch_draw)  # the global RNG's


@pytest.mark.parametrize("section,key,value", [
    ("model", "hidden_size", 7), ("optim", "lr", 0.5), ("data", "val_fraction", 0.3),
    ("task", "type", "regression")])
def test_a_state_of_other_settings_is_refused(section, key, value):
    cfg = Config()
    model, opt, sched, gen = _parts(0)
    state = training_state(cfg, model, opt, sched, None, gen, _data(), new_counters())
    other = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section),
                                                                     **{key: value})})
    with pytest.raises(TrainingError, match=f"the checkpoint's {section} settings differ"):
        restore_state(state, other, model, opt, sched, None, gen)


def test_an_older_state_without_the_tie_break_or_task_still_resumes():
    cfg = Config()
    model, opt, sched, gen = _parts(0)
    state = training_state(cfg, model, opt, sched, None, gen, _data(), new_counters())
    del state["es_best_val_loss"], state["config"]["task"]
    assert restore_state(state, cfg, model, opt, sched, None, gen)["es_best_val_loss"] is None
