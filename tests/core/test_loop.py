import logging
import math

import pytest
import torch

import core.epochs as epochs
import core.loop as loop
from core.checkpoint import load_checkpoint
from core.data import DataSplits, SequenceData, load_data
from core.errors import NonFiniteLossError, TrainingError
from core.loop import fit
from core.tasks import metrics_for

TIME_KEYS = {"epoch_time_s", "samples_per_s"}


def _strip(history):
    return [{k: v for k, v in h.items() if k not in TIME_KEYS} for h in history]


def test_warmup_then_cosine_stepped_after_each_optimizer_step(tiny, monkeypatch):
    cfg = tiny(training={"epochs": 3}, schedule={"name": "cosine", "warmup_steps": 4,
                                                  "interval": "step"})
    used = []
    real = epochs.optimizer_step

    def spy(model, optimizer, scaler, clip):
        used.append(optimizer.param_groups[0]["lr"])  # the lr this step applies
        real(model, optimizer, scaler, clip)

    monkeypatch.setattr(epochs, "optimizer_step", spy)  # used by the loop (core.epochs)
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


@pytest.mark.parametrize("task_type", ["binary", "multilabel", "regression"])
def test_each_task_records_its_metrics_and_selects_on_its_default(tiny, task_data, task_type):
    cfg = tiny(task={"type": task_type})
    result = fit(cfg, task_data(cfg, task_type))
    expected = set(metrics_for(task_type))
    for row in result.history:
        assert expected <= row.keys(), expected - row.keys()
        assert all(math.isfinite(row[k]) for k in expected)
    metric = {"binary": "val_auroc", "multilabel": "val_map", "regression": "val_rmse"}[task_type]
    assert cfg.training.checkpoint_metric == metric
    values = [h[metric] for h in result.history]
    best = min(values) if task_type == "regression" else max(values)
    # of the epochs reaching the best value, the one with the lowest val_loss (then the first)
    tied = [h for h in result.history if h[metric] == best]
    expected = min(tied, key=lambda h: (h["val_loss"], h["epoch"]))["epoch"]
    assert result.best_epoch == expected and result.best_metric == best
    assert ("val_threshold" in result.history[0]) == (task_type == "binary")


@pytest.mark.parametrize("task_type", ["binary", "regression"])
def test_resume_is_bit_exact_for_other_tasks(tiny, task_data, tmp_path, task_type):
    over = dict(task={"type": task_type}, model={"num_layers": 2, "dropout": 0.3},
                training={"epochs": 3})
    cfg = tiny(**over)
    data = task_data(cfg, task_type)

    def reporter(metrics, write_checkpoint):
        if metrics["epoch"] == 1:
            write_checkpoint(tmp_path / "epoch1.pt")

    full = fit(cfg, data, reporter=reporter)
    resumed = fit(tiny(**over), data, resume=load_checkpoint(tmp_path / "epoch1.pt"))
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    assert _strip(resumed.history) == _strip(full.history)


def test_early_stopping_and_checkpoint_on_any_task_metric(tiny, task_data):
    cfg = tiny(task={"type": "regression"},
               training={"epochs": 30, "checkpoint_metric": "val_mae",
                         "early_stopping": {"patience": 1, "metric": "val_r2",
                                            "min_delta": 10.0}})
    # r2 improves upwards, mae downwards: the loop takes each direction from its metric
    r = fit(cfg, task_data(cfg, "regression"))
    # R² never improves by 10: patience + 1 epochs; the best epoch has the lowest val_mae
    assert r.stop_reason == "early_stopping" and len(r.history) == 2
    maes = [h["val_mae"] for h in r.history]
    assert r.best_epoch == maes.index(min(maes)) + 1


def test_class_weights_are_logged_and_accuracy_on_imbalanced_classes_warns(tiny, task_data,
                                                                          caplog):
    # 4 motifs: the positive class (both motifs 0) is 1 in 16 sequences
    over = dict(task={"type": "binary", "pos_weight": "balanced"},
                data={"synthetic": {"num_motifs": 4, "num_samples": 320}},
                training={"epochs": 1, "checkpoint_metric": "val_accuracy"})
    cfg = tiny(**over)
    data = task_data(cfg, "binary")
    pos = data.train.y.sum().item()
    with caplog.at_level(logging.INFO, logger="core"):
        fit(cfg, data)
    expected = (len(data.train) - pos) / pos
    assert f"pos_weight (balanced): {expected:.3g}" in caplog.text
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("minority class is" in r.getMessage() and "val_accuracy" in r.getMessage()
               for r in warnings)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="core"):
        fit(tiny(**{**over, "training": {"epochs": 1}}), data)  # val_auroc: no warning
    assert "minority class" not in caplog.text
    # Balanced sampling and pos_weight: balanced correct the imbalance twice over; said so.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="core"):
        fit(tiny(**{**over, "training": {"epochs": 1}, "loader": {"sampler": "balanced"}}), data)
    assert "corrected for twice" in caplog.text and "task.pos_weight" in caplog.text


def test_class_weights_that_do_not_fit_the_data_fail_before_training(tiny):
    cfg = tiny(task={"class_weight": [1.0, 2.0]})  # 2 motifs: 4 classes
    with pytest.raises(TrainingError, match=r"task.class_weight: expected 4 numbers"):
        fit(cfg)
    with pytest.raises(TrainingError, match="task.type is binary but the data were prepared"):
        fit(tiny(task={"type": "binary"}), load_data(cfg.data, cfg.task))


def _scripted_validation(monkeypatch, script):
    """Replaces the validation metrics of each epoch: (val_accuracy, val_loss) from ``script``."""
    steps, real = iter(script), epochs.evaluate

    def scripted(*args, **kwargs):
        out = real(*args, **kwargs)
        out["accuracy"], out["loss"] = next(steps)
        return out

    monkeypatch.setattr(epochs, "evaluate", scripted)


# val_accuracy saturates at 1.0 from epoch 2 (a small validation split); val_loss still falls
# until epoch 3.
SATURATED = [(0.9, 0.5), (1.0, 0.4), (1.0, 0.2), (1.0, 0.3), (1.0, 0.3)]


def test_a_tie_on_the_checkpoint_metric_goes_to_the_later_epoch_with_the_lower_val_loss(
        tiny, monkeypatch):
    _scripted_validation(monkeypatch, SATURATED[:4])
    result = fit(tiny(training={"epochs": 4}))
    # epoch 3 ties epoch 2 with a lower val_loss and becomes best; epoch 4's higher loss does not
    assert [h["best_epoch"] for h in result.history] == [1, 2, 3, 3]
    assert result.best_epoch == 3 and result.best_metric == 1.0


def test_early_stopping_counts_a_tie_with_a_lower_val_loss_as_an_improvement(tiny, monkeypatch):
    _scripted_validation(monkeypatch, SATURATED)
    cfg = tiny(training={"epochs": 5, "early_stopping": {"patience": 1,
                                                         "metric": "val_accuracy"}})
    result = fit(cfg)
    # epoch 3 resets the patience (as it moves best.pt); epoch 4 is the one epoch without
    assert result.stop_reason == "early_stopping" and len(result.history) == 4


def test_resume_from_a_checkpoint_without_the_tie_break_state(tiny, tmp_path):
    over = dict(training={"epochs": 3, "early_stopping": {"patience": 5,
                                                          "metric": "val_accuracy"}})
    path = tmp_path / "epoch1.pt"
    full = fit(tiny(**over), reporter=lambda m, w: w(path) if m["epoch"] == 1 else None)
    state = load_checkpoint(path)
    assert "es_best_val_loss" in state
    del state["es_best_val_loss"]  # as written before ties were broken by val_loss
    resumed = fit(tiny(**over), resume=state)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert _strip(resumed.history) == _strip(full.history)


def test_a_small_validation_split_warns_that_ties_break_on_val_loss(tiny, caplog):
    with caplog.at_level(logging.WARNING, logger="core"):
        fit(tiny(training={"epochs": 1}))  # 180 sequences: 27 in validation
    assert "validation split has 27 sequences" in caplog.text


def test_names_that_moved_out_of_the_loop_still_import_from_it():
    import core.device
    import core.evaluate
    import core.optim
    import core.step

    for name in loop.__all__:
        assert hasattr(loop, name), name
    assert loop.evaluate is core.evaluate.evaluate and loop.build_scheduler is \
        core.optim.build_scheduler
    assert loop.resolve_device is core.device.resolve_device and loop.optimizer_step is \
        core.step.optimizer_step


def test_each_epoch_reports_when_the_process_first_trained_a_batch_and_the_history_does_not(
        tiny):
    # setup_s: to the first batch; first_step_s: to that batch trained (the sweep's start-up
    # line, tuning.execution._startup); timings of this process, never in the history
    reported = []
    result = fit(tiny(training={"epochs": 2}), reporter=lambda m, w: reported.append(m))
    first = [(m["setup_s"], m["first_step_s"]) for m in reported]
    assert len(set(first)) == 1 and 0 < first[0][0] < first[0][1] < 60
    assert all("setup_s" not in h and "first_step_s" not in h for h in result.history)
