import math

import pytest
import torch

import core.loop as loop
from core.checkpoint import load_checkpoint
from core.data import DataSplits, SequenceData, load_data
from core.loop import NonFiniteLossError, TrainingError, fit, optimizer_step

TIME_KEYS = {"epoch_time_s", "samples_per_s"}


def _strip(history):
    return [{k: v for k, v in h.items() if k not in TIME_KEYS} for h in history]


def test_warmup_then_cosine_stepped_after_each_optimizer_step(tiny, monkeypatch):
    cfg = tiny(training={"epochs": 3}, schedule={"name": "cosine", "warmup_steps": 4,
                                                  "interval": "step"})
    used = []
    real = loop.optimizer_step

    def spy(model, optimizer, scaler, clip):
        used.append(optimizer.param_groups[0]["lr"])  # the lr this step applies
        real(model, optimizer, scaler, clip)

    monkeypatch.setattr(loop, "optimizer_step", spy)
    fit(cfg)
    total = len(used)
    peak, warm = cfg.optim.lr, 4
    expected = [peak * (s + 1) / warm if s < warm else
                peak * 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm)))
                for s in range(total)]
    # Step s uses the schedule's value at s: the first step already uses lr/warmup, not 0,
    # so the scheduler advanced after each optimizer step and never before the first.
    assert used == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_plateau_gets_the_validation_loss(tiny, monkeypatch):
    cfg = tiny(training={"epochs": 3},
               schedule={"name": "plateau", "interval": "epoch", "warmup_steps": 0})
    seen = []
    real = torch.optim.lr_scheduler.ReduceLROnPlateau.step

    def spy(self, metrics, *args, **kwargs):
        seen.append(metrics)
        return real(self, metrics, *args, **kwargs)

    monkeypatch.setattr(torch.optim.lr_scheduler.ReduceLROnPlateau, "step", spy)
    result = fit(cfg)
    assert seen == [h["val_loss"] for h in result.history]


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


def test_accumulation_equals_one_big_batch(tiny):
    # 2 micro-batches of 8 per step take the same steps as batches of 16, including the last,
    # smaller group (the train split is not a multiple of 16).
    big = fit(tiny(training={"batch_size": 16, "grad_accum_steps": 1}))
    acc = fit(tiny(training={"batch_size": 8, "grad_accum_steps": 2}))
    assert len(big.history) == len(acc.history)
    for a, b in zip(big.history, acc.history, strict=True):
        assert a["global_step"] == b["global_step"]
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    for pa, pb in zip(big.model.parameters(), acc.model.parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-5)


def test_non_finite_loss_stops_with_a_clear_message(tiny):
    cfg = tiny()
    data = load_data(cfg.data, cfg.task)
    data.train.x[0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="NaN or inf in epoch 1"):
        fit(cfg, data)


def test_empty_split_fails_before_training(tiny):
    cfg = tiny()
    d = load_data(cfg.data, cfg.task)
    empty = SequenceData(d.val.x[:0], d.val.y[:0], None)
    with pytest.raises(TrainingError, match="val split is empty"):
        fit(cfg, DataSplits(d.train, empty, d.test, d.class_names, d.feature_names))


def test_same_seed_same_metrics_other_seed_differs(tiny):
    a, b = fit(tiny()), fit(tiny())
    c = fit(tiny(experiment={"seed": 1}))
    assert _strip(a.history) == _strip(b.history)
    assert _strip(a.history) != _strip(c.history)


def test_metrics_are_recorded_per_epoch(tiny):
    h = fit(tiny(training={"epochs": 2})).history
    keys = {"train_loss", "val_loss", "val_accuracy", "val_macro_f1", "lr", "epoch_time_s",
            "samples_per_s"}
    assert [r["epoch"] for r in h] == [1, 2] and all(keys <= r.keys() for r in h)
    assert all(0.0 <= r["val_accuracy"] <= 1.0 and r["samples_per_s"] > 0 for r in h)


@pytest.mark.parametrize("mode", ["tensor", "dataloader"])
def test_resume_is_bit_exact(tiny, tmp_path, mode):
    over = dict(model={"num_layers": 2, "dropout": 0.3, "head_dropout": 0.2},
                training={"epochs": 4}, loader={"mode": mode})
    snapshots = {}

    def reporter(metrics, write_checkpoint):
        if metrics["epoch"] == 2:
            write_checkpoint(tmp_path / "epoch2.pt")
            snapshots["at2"] = metrics

    full = fit(tiny(**over), reporter=reporter)
    state = load_checkpoint(tmp_path / "epoch2.pt")
    resumed = fit(tiny(**over), resume=state)
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name  # bit-identical weights, not merely close
    assert _strip(resumed.history) == _strip(full.history)


def test_early_stopping_with_patience(tiny):
    cfg = tiny(training={"epochs": 30, "early_stopping": {"patience": 1, "metric": "val_loss",
                                                         "mode": "min", "min_delta": 10.0}})
    r = fit(cfg)
    # No epoch improves val_loss by 10, so training stops after patience + 1 epochs.
    assert r.stop_reason == "early_stopping" and len(r.history) == 2


def test_checkpoint_holds_everything_and_loads_weights_only(tiny, tmp_path):
    path = tmp_path / "c.pt"
    fit(tiny(training={"epochs": 1, "precision": "fp16"}),
        reporter=lambda m, w: w(path))
    state = torch.load(path, weights_only=True)
    for key in ("model", "optimizer", "scheduler", "scaler", "rng", "data_rng", "epoch",
                "global_step", "best_metric", "history", "config"):
        assert key in state, key
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert state["scaler"] is not None and state["epoch"] == 1
