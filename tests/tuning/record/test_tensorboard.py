"""tuning.record._tensorboard: one event-file folder per trial, one point per epoch (end to end in
test_sweep.py)."""

import math

from tuning.record import read_scalars, scalar_tags, write_trial_events


def test_tags_are_the_finite_metrics_and_the_listed_scalars():
    row = {"epoch": 2, "train_loss": 0.5, "val_rmse": 1.2, "test_r2": 0.3, "lr": 1e-3,
           "epoch_time_s": 1.5, "val_loss": math.inf, "val_f1": math.nan, "node_id": "ab",
           "val_is_best": True, "setup_s": 4.0}
    assert scalar_tags(row) == ["train_loss", "val_rmse", "test_r2", "lr", "epoch_time_s"]


def test_every_epoch_is_written_in_order_and_read_back(tmp_path):
    rows = [{"epoch": 3, "val_accuracy": 0.8, "reported_at": 1003.0},
            {"epoch": 1, "val_accuracy": 0.5, "train_loss": 1.0, "reported_at": 1001.0},
            {"epoch": 2, "val_accuracy": 0.7, "train_loss": math.nan},
            {"val_accuracy": 0.9}]  # no epoch: not a point
    assert write_trial_events(tmp_path, "t0001", rows) == 3
    scalars = read_scalars(tmp_path / "t0001")
    assert {k: {s: round(v, 4) for s, v in d.items()} for k, d in scalars.items()} == {
        "val_accuracy": {1: 0.5, 2: 0.7, 3: 0.8}, "train_loss": {1: 1.0}}
    assert not list(tmp_path.glob(".*.tmp"))  # built beside, renamed into place


def test_a_trial_is_written_afresh_each_time(tmp_path):
    write_trial_events(tmp_path, "t0002", [{"epoch": 1, "val_accuracy": 0.1}])
    # a later run resumed the trial: its folder holds every epoch once, not two files' worth
    write_trial_events(tmp_path, "t0002", [{"epoch": 1, "val_accuracy": 0.4},
                                           {"epoch": 2, "val_accuracy": 0.6}])
    assert len(list((tmp_path / "t0002").glob("events.out.tfevents.*"))) == 1
    assert {s: round(v, 4) for s, v in read_scalars(tmp_path / "t0002")["val_accuracy"]
            .items()} == {1: 0.4, 2: 0.6}
