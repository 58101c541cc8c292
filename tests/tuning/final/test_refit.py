"""The refit after selection (tuning.final): every non-test sequence, the chosen steps."""

import json
import re

from core.config import config_from_dict
from core.data import load_data
from core.run import run_training
from tests.conftest import tiny_dict
from tuning.final import refit_config, refit_epochs


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
