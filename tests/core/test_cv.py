"""Cross-validated training (data.cv_folds): fold-mean reports, every fold in the checkpoint,
exact resume, out-of-fold predictions, and the standalone run (core.cv, core.loop, core.run)."""

import csv
import json

import pytest
import torch

from core.checkpoint import load_checkpoint
from core.config import config_from_dict
from core.cv import FOLD_STATES, OOF_KEY, FoldEnsemble, combine_outputs, fold_summary
from core.data import load_data
from core.loop import fit
from core.run import resume_training, run_training
from tests.conftest import tiny_dict

TIME_KEYS = ("epoch_time_s", "samples_per_s", "setup_s")


def _strip(history):
    return [{k: v for k, v in h.items() if not k.startswith(TIME_KEYS)} for h in history]


def _cv(tiny, folds=3, **sections):
    sections.setdefault("model", {"hidden_size": 8, "num_layers": 2, "dropout": 0.2})
    return tiny(data={"cv_folds": folds}, **sections)


def test_fold_summary_means_spreads_and_fold_values():
    rows = [{"epoch": 2, "train_loss": 1.0, "val_loss": 0.5, "val_accuracy": 0.6, "lr": 0.1,
             "epoch_time_s": 2.0, "samples_per_s": 50.0, "global_step": 8},
            {"epoch": 2, "train_loss": 3.0, "val_loss": 0.7, "val_accuracy": 1.0, "lr": 0.1,
             "epoch_time_s": 1.0, "samples_per_s": 200.0, "global_step": 8}]
    s = fold_summary(rows)
    assert s["val_accuracy"] == pytest.approx(0.8) and s["val_accuracy_sd"] == pytest.approx(0.2)
    assert (s["val_loss_fold0"], s["val_loss_fold1"]) == (0.5, 0.7)
    assert s["train_loss"] == 2.0 and s["epoch"] == 2 and s["global_step"] == 8
    assert s["epoch_time_s"] == 3.0 and s["samples_per_s"] == pytest.approx(300 / 3)


def test_combine_outputs_averages_probabilities_not_logits():
    a, b = torch.tensor([[4.0, 0.0]]), torch.tensor([[0.0, 0.0]])
    p = combine_outputs("multiclass", [a, b]).softmax(-1)
    assert p == pytest.approx((a.softmax(-1) + b.softmax(-1)) / 2)
    q = combine_outputs("binary", [torch.tensor([2.0]), torch.tensor([-1.0])],
                        weights=[3, 1]).sigmoid()
    assert float(q) == pytest.approx(0.75 * torch.sigmoid(torch.tensor(2.0)).item()
                                     + 0.25 * torch.sigmoid(torch.tensor(-1.0)).item(), rel=1e-6)
    r = combine_outputs("regression", [torch.tensor([[1.0]]), torch.tensor([[3.0]])])
    assert float(r) == 2.0


def test_each_epoch_reports_the_fold_means_and_the_best_epoch_uses_them(tiny):
    cfg = _cv(tiny, training={"epochs": 3, "checkpoint_metric": "val_loss"})
    reported = []
    result = fit(cfg, reporter=lambda m, w: reported.append(m))
    assert [m["epoch"] for m in reported] == [1, 2, 3]
    for m in reported:
        for key in ("val_loss", "val_accuracy", "train_loss"):
            folds = [m[f"{key}_fold{k}"] for k in range(3)]
            assert m[key] == pytest.approx(sum(folds) / 3)
            sd = torch.tensor(folds, dtype=torch.float64).std(unbiased=False)
            assert m[f"{key}_sd"] == pytest.approx(float(sd))
        assert len({m["val_loss_fold0"], m["val_loss_fold1"], m["val_loss_fold2"]}) == 3
    means = [m["val_loss"] for m in reported]
    assert result.best_epoch == means.index(min(means)) + 1
    assert isinstance(result.model, FoldEnsemble) and len(result.model.members) == 3



def test_out_of_fold_outputs_are_each_fold_models_outputs_on_its_validation_fold(tiny):
    cfg = _cv(tiny, training={"epochs": 1})  # one epoch: the best epoch's models are the last
    result = fit(cfg)
    data = load_data(cfg.data, cfg.task)
    oof = result.extras[OOF_KEY]
    assert oof.shape == (len(data.train), data.num_outputs)
    for (_, va), net in zip(data.folds, result.model.members, strict=True):
        with torch.no_grad():
            out = net.eval()(data.train.x[torch.from_numpy(va)], None)
        assert torch.allclose(oof[torch.from_numpy(va)], out, atol=1e-5)


def test_a_resumed_cv_run_continues_exactly(tiny, tmp_path):
    cfg = _cv(tiny, training={"epochs": 4})
    saved = tmp_path / "epoch2.pt"

    def stop_at_2(m, write_checkpoint):
        if m["epoch"] == 2:
            write_checkpoint(saved)

    full = fit(cfg, reporter=stop_at_2)
    state = load_checkpoint(saved)
    assert len(state[FOLD_STATES]) == 3 and state["epoch"] == 2
    resumed = fit(cfg, resume=state)
    assert _strip(resumed.history) == _strip(full.history)
    for a, b in zip(full.model.members, resumed.model.members, strict=True):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.equal(x, y), name
    assert torch.equal(full.extras[OOF_KEY], resumed.extras[OOF_KEY])


def test_a_holdout_checkpoint_does_not_resume_a_cv_run(tiny, tmp_path):
    from core.errors import TrainingError

    plain = tiny(training={"epochs": 1})
    fit(plain, reporter=lambda m, w: w(tmp_path / "plain.pt"))
    with pytest.raises(TrainingError, match="cross-validated"):
        fit(_cv(tiny, training={"epochs": 2}), resume=load_checkpoint(tmp_path / "plain.pt"))


def test_standalone_cv_run_writes_folds_oof_and_ensemble_test_metrics(tmp_path):
    raw = tiny_dict(data={"cv_folds": 3}, training={"epochs": 3})
    run = run_training(raw, run_dir=tmp_path / "run", quiet=True)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["cv_folds"] == 3 and summary["best_metric_sd"] is not None
    assert summary["test"]["test_accuracy"] == run.test["test_accuracy"]
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and "val_accuracy_fold2" in rows[0] and "val_accuracy_sd" in rows[0]
    with open(tmp_path / "run" / "oof_predictions.csv") as f:
        oof = list(csv.DictReader(f))
    cfg = config_from_dict(raw)
    cfg_data = load_data(cfg.data, cfg.task)
    assert sorted(int(r["sequence_id"]) for r in oof) == sorted(cfg_data.train.ids.tolist())
    assert {r["fold"] for r in oof} == {"0", "1", "2"}
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert best["epoch"] == summary["best_epoch"] and len(best[FOLD_STATES]) == 3


def test_standalone_cv_run_resumes_to_the_same_end(tmp_path, monkeypatch):
    import core.loop as loop

    raw = tiny_dict(data={"cv_folds": 2}, training={"epochs": 3})
    whole = run_training(raw, run_dir=tmp_path / "whole", quiet=True)
    calls = []
    real = loop.fold_summary

    def interrupted_in_epoch_2(rows):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C after epoch 1's checkpoints were written
        return real(rows)

    monkeypatch.setattr(loop, "fold_summary", interrupted_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run_training(raw, run_dir=tmp_path / "cut", quiet=True)
    monkeypatch.setattr(loop, "fold_summary", real)
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["epoch"] == 1
    resumed = resume_training(tmp_path / "cut", quiet=True)
    assert _strip(resumed.history) == _strip(whole.history)
    assert resumed.test == whole.test


def test_early_stopping_watches_the_fold_mean_and_a_stopped_run_is_finished(tmp_path):
    raw = tiny_dict(data={"cv_folds": 2}, training={
        "epochs": 6, "early_stopping": {"patience": 1, "metric": "val_loss", "min_delta": 10.0}})
    run = run_training(raw, run_dir=tmp_path / "run", quiet=True)
    # val_loss never improves by 10: the first epoch is the best, the second stops the run
    assert run.status == "early_stopping" and len(run.history) == 2
    with pytest.raises(Exception, match="already finished"):
        resume_training(tmp_path / "run", quiet=True)


def test_folds_in_the_config_but_not_in_ready_data_is_an_error(tiny):
    from core.errors import TrainingError

    cfg = _cv(tiny, training={"epochs": 1})
    plain = load_data(tiny().data, tiny().task)
    with pytest.raises(TrainingError, match="data.cv_folds is 3"):
        fit(cfg, plain)


def test_binary_threshold_is_chosen_on_all_out_of_fold_predictions(tiny):
    from core.metrics import best_f1_threshold

    cfg = tiny(task={"type": "binary"}, data={"cv_folds": 3, "synthetic": {
        "positive_fraction": 0.3}}, training={"epochs": 1})
    result = fit(cfg)
    data = load_data(cfg.data, cfg.task)
    oof = result.extras[OOF_KEY].reshape(-1)
    expected = float(best_f1_threshold(oof.sigmoid(), data.train.y.float()))
    row = result.history[0]
    assert row["val_threshold"] == expected
    assert {f"val_threshold_fold{k}" for k in range(3)} <= set(row)


def test_a_long_cv_run_shows_fold_mean_lines_and_the_last_one_before_early_stopping(tmp_path,
                                                                                    capsys):
    # 40 epochs planned: the console thins them (every 2nd); the run stops early at epoch 2,
    # whose line the console held back and shows before the early-stopping line
    raw = tiny_dict(data={"cv_folds": 2}, training={
        "epochs": 40, "early_stopping": {"patience": 1, "metric": "val_loss", "min_delta": 10.0}})
    run = run_training(raw, run_dir=tmp_path / "run")
    assert run.status == "early_stopping" and len(run.history) == 2
    err = capsys.readouterr().err.splitlines()
    epochs = [i for i, ln in enumerate(err) if " fold means: " in ln]
    assert [err[i].split()[2] for i in epochs] == ["1/40", "2/40"]
    assert "early stopping" in err[epochs[1] + 1]
    assert err[epochs[0]].endswith("left") and "| new best" in err[epochs[0]]
    assert "| best val_accuracy" in err[epochs[1]]
    assert "fold 0 epoch" not in "\n".join(err)  # each fold's own line is at debug level


def test_a_fixed_binary_threshold_is_every_folds_and_the_pooled_one(tiny):
    from sklearn.metrics import f1_score

    cfg = tiny(task={"type": "binary", "threshold": 0.35}, data={"cv_folds": 3, "synthetic": {
        "positive_fraction": 0.3}}, training={"epochs": 1})
    result = fit(cfg)
    data = load_data(cfg.data, cfg.task)
    row = result.history[0]
    assert row["val_threshold"] == pytest.approx(0.35)
    assert all(row[f"val_threshold_fold{k}"] == pytest.approx(0.35) for k in range(3))
    # Each fold's f1_best is the F1 of its out-of-fold predictions at 0.35, not at its optimum.
    oof = result.extras[OOF_KEY].reshape(-1).sigmoid()
    for k, (_, va) in enumerate(data.folds):
        idx = torch.from_numpy(va)
        expected = f1_score(data.train.y[idx].numpy(), (oof[idx] >= 0.35).numpy())
        assert row[f"val_f1_best_fold{k}"] == pytest.approx(expected, abs=1e-6)
