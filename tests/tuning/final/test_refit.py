"""The refit after selection (tuning.final): every non-test sequence, the chosen steps."""

import json
import re

from core.config import config_from_dict
from core.data import load_data
from core.run import run_training
from tests.conftest import tiny_dict
from tuning.final import best_epoch_threshold, refit_config, refit_epochs


def test_refit_config_after_cv_and_after_a_holdout_split():
    cv, note = refit_config(tiny_dict(data={"cv_folds": 5}, training={"epochs": 100}), 40)
    # 5 folds: each model trained on 4/5 of the data; the refit's epochs are 5/4 as long in
    # steps, so 40 epochs of selection are 32 of the refit.
    assert cv["data"]["cv_folds"] == 0 and cv["data"]["val_fraction"] == 0.0
    assert cv["training"]["epochs"] == 32 and cv["training"]["early_stopping"]["patience"] == 0
    assert "32 epochs" in note and "5-fold CV" in note
    holdout, note = refit_config(tiny_dict(data={"val_fraction": 0.25}), 10)
    assert holdout["training"]["epochs"] == 8 and holdout["data"]["val_fraction"] == 0.0
    assert "0.25 validation split" in note
    assert refit_epochs(1, 2, 0.0) == 1  # never below one epoch
    assert refit_epochs(9, 3, 0.0) == 6
    config_from_dict(cv, "<refit>")  # a valid config


def test_a_binary_refit_carries_its_trials_threshold_at_the_best_epoch():
    # The trial's rows as tuning.record.trial_history gives them: val_threshold per epoch.
    rows = [{"epoch": 1, "val_threshold": 0.61}, {"epoch": 2, "val_threshold": 0.37},
            {"epoch": 3, "val_threshold": 0.52}]
    assert best_epoch_threshold(rows, 2) == 0.37
    assert best_epoch_threshold(rows, 4) is None  # an epoch not on disk
    assert best_epoch_threshold([{"epoch": 2, "val_loss": 0.3}], 2) is None  # not binary
    binary = {"type": "binary"}
    cv, note = refit_config(tiny_dict(task=binary, data={"cv_folds": 5}), 2,
                            best_epoch_threshold(rows, 2))
    assert cv["task"]["threshold"] == 0.37 and "task.threshold 0.37" in note
    assert "out-of-fold" in note
    config_from_dict(cv, "<refit>")
    holdout, note = refit_config(tiny_dict(task=binary, data={"val_fraction": 0.25}), 3, 0.52)
    assert holdout["task"]["threshold"] == 0.52 and "F1-optimal validation threshold" in note
    # A threshold the config fixes is the trial's own already: it stays.
    fixed, note = refit_config(tiny_dict(task={**binary, "threshold": 0.2}), 3, 0.52)
    assert fixed["task"]["threshold"] == 0.2 and "0.2 (fixed)" in note
    none, note = refit_config(tiny_dict(task=binary), 3, None)
    assert none["task"].get("threshold") is None and "0.5 (the trial recorded none)" in note
    # Other task types have no decision threshold: a valid refit without one.
    multi, note = refit_config(tiny_dict(data={"cv_folds": 5}), 2, 0.37)
    assert multi.get("task", {}).get("threshold") is None and "threshold" not in note
    config_from_dict(multi, "<refit>")


def test_core_train_on_the_refit_trains_on_train_plus_val_for_the_chosen_epochs(tmp_path):
    selection = tiny_dict(data={"val_fraction": 0.25}, training={"epochs": 6})
    data = load_data(config_from_dict(selection, "<sel>").data,
                     config_from_dict(selection, "<sel>").task)
    refit, _ = refit_config(selection, 4)  # best epoch 4 of 6 on 75% of the non-test data
    result = run_training(refit, run_dir=tmp_path / "run", quiet=True)
    log = (tmp_path / "run" / "train.log").read_text()
    train_n = int(re.search(r"train\s+(\d+) sequences", log).group(1))
    test_n = int(re.search(r"test\s+(\d+) sequences", log).group(1))
    assert train_n == len(data.train) + len(data.val) and test_n == len(data.test)
    assert "no val split" in log
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs_run"] == 3 == len(result.history)  # round(4 * 0.75)
    assert set(summary["test"]) >= {"test_loss", "test_accuracy"}
