"""tuning.record._results: the one reader of trial results (unbatching, histories, trials.csv
rows)."""

import json

import optuna

from tests.tuning.conftest import SPACE
from tuning.record import (
    finite,
    parse_results,
    trial_best_epoch,
    trial_history,
    trial_rows,
    unbatch,
)
from tuning.space import load_space
from tuning.study import open_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _write_results(trial_dir, reports):
    trial_dir.mkdir(parents=True, exist_ok=True)
    (trial_dir / "result.json").write_text("".join(json.dumps(r) + "\n" for r in reports))


def test_batched_reports_expand_to_one_row_per_epoch_in_order():
    reports = [{"epoch": 2, "v": 0.2, "earlier_epochs": [{"epoch": 1, "v": 0.1}]},
               {"epoch": 3, "v": 0.3, "earlier_epochs": []}]
    assert [(r["epoch"], r["v"]) for r in unbatch(reports)] == [(1, 0.1), (2, 0.2), (3, 0.3)]
    # The batch itself is not part of a row.
    assert all("earlier_epochs" not in r for r in unbatch(reports))


def test_a_line_cut_short_by_a_crash_and_rows_without_an_epoch_are_skipped():
    text = json.dumps({"epoch": 1, "v": 1.0}) + "\n" + json.dumps({"done": True}) + "\n{\"epo"
    assert parse_results(text) == [{"epoch": 1, "v": 1.0}]


def test_history_reads_batched_epochs_across_runs_later_runs_winning(tmp_path):
    _write_results(tmp_path / "tune" / "run-0" / "t0000",
                   [{"epoch": 3, "v": 3.0, "earlier_epochs": [{"epoch": 1, "v": 1.0},
                                                               {"epoch": 2, "v": 2.0}]}])
    # Resumed in a later run from its epoch-1 checkpoint: epochs 2 and 3 again, then 4.
    _write_results(tmp_path / "tune" / "run-1" / "t0000",
                   [{"epoch": 4, "v": 4.5, "earlier_epochs": [{"epoch": 2, "v": 2.5},
                                                               {"epoch": 3, "v": 3.5}]}])
    history = trial_history(tmp_path, "t0000")
    assert [(r["epoch"], r["v"]) for r in history] == [(1, 1.0), (2, 2.5), (3, 3.5), (4, 4.5)]
    assert history[0]["_dir"].endswith("run-0/t0000") and history[-1]["_dir"].endswith(
        "run-1/t0000")
    assert trial_history(tmp_path, "t0001") == []


def test_finite_refuses_booleans_strings_and_non_finite_numbers():
    assert finite(1) and finite(-0.5)
    assert not any(finite(v) for v in (True, "1", None, float("nan"), float("inf")))


def test_trials_csv_names_the_best_epochs_checkpoint_else_the_newest(tmp_path):
    space = load_space(SPACE)
    study, _ = open_study(tmp_path, "x", space)
    scores = {1: 0.5, 2: 0.6, 3: 0.9, 4: 0.7}  # best at epoch 3
    for number, saved in enumerate(([2, 4], [2, 3, 4])):
        trial = study.ask()
        trial.set_user_attr("params", {})
        d = tmp_path / "tune" / "run-0" / f"t{number:04d}"
        rows = []
        for epoch, score in scores.items():
            trial.report(score, epoch)
            name = f"checkpoint_{epoch:06d}" if epoch in saved else None
            if name:
                (d / name).mkdir(parents=True)
                (d / name / "checkpoint.pt").write_bytes(b"x")
            rows.append({"epoch": epoch, "val_accuracy": score, "checkpoint_dir_name": name})
        (d / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
        study.tell(trial, 0.9)
    csv_rows = trial_rows(study, tmp_path, space)
    # Epoch 3 was not saved in t0000: its newest checkpoint (epoch 4) is named, with its epoch.
    assert (csv_rows[0]["best_epoch"], csv_rows[0]["checkpoint_epoch"]) == (3, 4)
    assert csv_rows[0]["checkpoint"].endswith("t0000/checkpoint_000004/checkpoint.pt")
    # t0001 saved epoch 3: the best epoch's own checkpoint.
    assert csv_rows[1]["checkpoint_epoch"] == 3
    assert csv_rows[1]["checkpoint"].endswith("t0001/checkpoint_000003/checkpoint.pt")


def test_a_tie_on_the_metric_goes_to_the_epoch_with_the_lower_val_loss(tmp_path):
    # val_accuracy saturates at 0.9 from epoch 2; epoch 3 fits validation better (the rule of
    # best.pt, core.selection), and its own checkpoint is named although epoch 2's exists too
    space = load_space(SPACE)
    study, _ = open_study(tmp_path, "x", space)
    trial = study.ask()
    trial.set_user_attr("params", {})
    d = tmp_path / "tune" / "run-0" / "t0000"
    rows = []
    for epoch, (score, loss) in enumerate([(0.5, 0.9), (0.9, 0.5), (0.9, 0.3), (0.9, 0.4)], 1):
        trial.report(score, epoch)
        name = f"checkpoint_{epoch:06d}"
        (d / name).mkdir(parents=True)
        (d / name / "checkpoint.pt").write_bytes(b"x")
        rows.append({"epoch": epoch, "val_accuracy": score, "val_loss": loss,
                     "checkpoint_dir_name": name})
    (d / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    study.tell(trial, 0.9)
    row = trial_rows(study, tmp_path, space)[0]
    assert (row["best_epoch"], row["checkpoint_epoch"], row["best_val_accuracy"]) == (3, 3, 0.9)


def test_trial_best_epoch_keeps_the_first_tied_epoch_without_a_history():
    # a warm-started trial has values in the study but no rows on disk
    assert trial_best_epoch({1: 0.5, 2: 0.9, 3: 0.9}, [], "val_accuracy", "max") == 2
    assert trial_best_epoch({1: 0.5, 2: 0.3, 3: 0.3}, [{"epoch": 3, "val_loss": 0.1},
                                                       {"epoch": 2, "val_loss": 0.2}],
                            "val_rmse", "min") == 3
    assert trial_best_epoch({}, [], "val_accuracy", "max") is None
