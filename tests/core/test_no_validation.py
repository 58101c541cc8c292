"""data.val_fraction: 0: training on every non-test sequence without a validation split."""

import json

import numpy as np
import pytest

from core.config import ConfigError, DataConfig, config_from_dict
from core.data import from_arrays, load_data
from core.loop import fit
from core.run import run_training
from tests.conftest import tiny_dict


def _no_val(**training):
    return tiny_dict(data={"val_fraction": 0.0},
                     schedule={"name": "plateau", "interval": "epoch", "warmup_steps": 0,
                               "plateau_patience": 0},
                     training={"epochs": 3, **training})


def test_no_validation_split_trains_on_all_non_test_sequences_and_keeps_the_last_epoch(tmp_path):
    cfg = config_from_dict(_no_val(), "<test>")
    data = load_data(cfg.data, cfg.task)
    n = cfg.data.synthetic.num_samples
    assert len(data.val) == 0 and len(data.train) + len(data.test) == n
    result = run_training(_no_val(), run_dir=tmp_path / "run", quiet=True)
    assert result.status == "completed"
    assert all(not any(k.startswith("val_") for k in h) for h in result.history)
    assert [h["best_epoch"] for h in result.history] == [1, 2, 3]  # every epoch is the last
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best_epoch"] == 3 and summary["best_metric"] is None
    assert summary["test"]["test_accuracy"] >= 0.0
    assert (tmp_path / "run" / "checkpoints" / "best.pt").exists()
    lrs = [h["lr"] for h in result.history]
    assert lrs == sorted(lrs, reverse=True)  # plateau on train_loss: never raised


def test_checkpoint_metric_train_loss_keeps_the_lowest_train_loss():
    result = fit(config_from_dict(_no_val(checkpoint_metric="train_loss", epochs=4), "<test>"))
    losses = [h["train_loss"] for h in result.history]
    assert result.best_epoch == losses.index(min(losses)) + 1
    assert result.best_metric == min(losses)


def test_early_stopping_without_validation_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as exc:
        config_from_dict(_no_val(early_stopping={"patience": 2}), "my.yaml")
    assert [k for k, _ in exc.value.problems] == ["training.early_stopping.patience"]
    assert "val_fraction 0" in str(exc.value)


def test_a_given_train_test_split_is_not_carved_with_val_fraction_0():
    x = np.random.default_rng(0).standard_normal((30, 6, 2)).astype(np.float32)
    y = np.arange(30) % 3
    split = np.array(["train"] * 20 + ["test"] * 10)
    data = from_arrays(x, y, None, DataConfig(val_fraction=0.0), split=split)
    assert (len(data.train), len(data.val), len(data.test)) == (20, 0, 10)
    carved = from_arrays(x, y, None, DataConfig(val_fraction=0.2), split=split)
    assert len(carved.val) > 0 and len(carved.train) + len(carved.val) == 20
