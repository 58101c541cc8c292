"""tuning.execution._trainable: when a trial saves and reports (the trainable itself runs in
test_sweep)."""

from tuning.execution import checkpoint_due, report_due


def test_checkpoints_follow_the_interval_and_the_last_epoch_is_always_saved():
    assert checkpoint_due(20, 20, 0.0, 10.0)  # last epoch
    assert not checkpoint_due(5, 20, 9.9, 10.0)
    assert checkpoint_due(5, 20, 10.0, 10.0)
    assert checkpoint_due(5, 20, 0.0, 0.0)  # 0: every epoch


def test_every_rung_is_saved_so_a_trial_asha_stops_keeps_its_last_epoch():
    assert checkpoint_due(6, 20, 0.1, 10.0, rungs=(2, 6))
    assert not checkpoint_due(5, 20, 0.1, 10.0, rungs=(2, 6))


def test_reports_go_out_at_rungs_checkpoints_the_last_epoch_and_the_interval():
    rungs = (2, 6)
    assert report_due(2, 20, rungs, 0.0, checkpoint=False)  # a rung: ASHA decides here
    assert report_due(20, 20, rungs, 0.0, checkpoint=False)  # the last epoch
    assert report_due(3, 20, rungs, 0.0, checkpoint=True)  # with every checkpoint
    assert report_due(3, 20, rungs, 2.0, checkpoint=False)  # REPORT_INTERVAL_S passed
    assert not report_due(3, 20, rungs, 0.5, checkpoint=False)  # batched into the next one
