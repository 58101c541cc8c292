"""The run directory's files and checks (end-to-end runs: tests/core/test_run.py)."""

import csv
import io

import pytest

from core.run_dir import (
    RunError,
    check_new_run_dir,
    default_run_dir,
    finished_reason,
    metric_columns,
    metrics_csv,
)
from tests.conftest import tiny_dict


def test_metrics_csv_has_the_task_columns_and_leaves_other_keys_out():
    history = [{"epoch": 1, "train_loss": 0.5, "val_loss": 0.4, "setup_s": 1.0}]
    rows = list(csv.DictReader(io.StringIO(metrics_csv(history, "binary"))))
    assert list(rows[0]) == metric_columns("binary") and "val_threshold" in rows[0]
    assert rows[0]["epoch"] == "1" and rows[0]["val_loss"] == "0.4"
    assert "setup_s" not in rows[0]


def test_a_run_has_finished_after_its_epochs_or_early_stopping():
    from core.config import config_from_dict

    cfg = config_from_dict(tiny_dict(training={"epochs": 3, "early_stopping": {"patience": 2}}))
    assert finished_reason(cfg, {"epoch": 2, "es_bad_epochs": 1}) is None
    assert finished_reason(cfg, {"epoch": 3, "es_bad_epochs": 0}) == "all 3 epochs done"
    assert "early stopping" in finished_reason(cfg, {"epoch": 2, "es_bad_epochs": 2})


def test_a_new_run_needs_a_missing_or_empty_directory(tmp_path):
    check_new_run_dir(tmp_path / "new")
    check_new_run_dir(tmp_path)  # empty
    (tmp_path / "x").write_text("")
    with pytest.raises(RunError, match="not empty"):
        check_new_run_dir(tmp_path)
    assert default_run_dir("gru").parent.as_posix() == "runs/train"
    assert default_run_dir("gru").name.startswith("gru-")
