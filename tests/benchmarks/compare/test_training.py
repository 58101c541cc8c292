"""benchmarks.compare.training: a peer's trial (b, c, d) of a cross-validated task trains its
fold models through core.loop.fit and reports the fold means on which it is selected."""

import pytest

from benchmarks.compare.tasks import task_setup
from benchmarks.compare.training import train_one
from core.config import config_to_dict
from core.data import load_data

TINY = {"model.name": "fcn", "model.filters": 16, "training.batch_size": 64,
        "optim.lr": 3.0e-3}


def test_a_peers_trial_of_the_tsc_task_reports_fold_means_every_epoch():
    st = task_setup("tsc", smoke=True)  # 2 folds of JapaneseVowels, unsized
    data = load_data(st.cfg.data, st.cfg.task)  # as method_ray and method_optuna load it
    assert len(data.folds) == 2 and len(data.val) == 0  # every non-test series validates once
    seen = []
    best = train_one(config_to_dict(st.cfg), TINY, 2, data,
                     lambda metrics, first_step: seen.append(metrics), "val_loss", st.mode)
    assert [m["epoch"] for m in seen] == [1, 2]
    for m in seen:
        assert m["val_loss"] == pytest.approx((m["val_loss_fold0"] + m["val_loss_fold1"]) / 2)
        assert "val_loss_sd" in m and 0.0 <= m["val_accuracy"] <= 1.0
    assert best == min(m["val_loss"] for m in seen)  # the best fold-mean epoch, mode min
