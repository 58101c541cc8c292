"""tuning.execution._fault_injection: the test faults, read from SEQTUNE_FAULTS (end to end in
test_faults.py, test_sweep.py and test_confirm.py)."""

import math

import pytest
import torch

import tuning.execution._fault_injection as fault_injection
from core.data import DataSplits, SequenceData
from tuning.execution import faults_for, inject, lucky, poisoned


def test_faults_are_per_trial_and_inert_when_unset(monkeypatch):
    monkeypatch.delenv("SEQTUNE_FAULTS", raising=False)
    assert faults_for("t0001") == []
    monkeypatch.setenv("SEQTUNE_FAULTS", "raise_once:t0001:2,nan:t0002:1,lucky:t0001:3")
    assert faults_for("t0001") == [("raise_once", 2), ("lucky", 3)]
    assert faults_for("t0009") == []
    inject("t0009", 2, True)  # no fault: returns


def test_raise_fires_at_the_first_report_from_its_epoch(monkeypatch):
    monkeypatch.setenv("SEQTUNE_FAULTS", "raise:t0005:2")
    inject("t0005", 1, True)
    inject("t0005", 3, False)  # not the attempt's first report
    with pytest.raises(RuntimeError, match="injected fault: t0005 raises after epoch 3"):
        inject("t0005", 3, True)


def test_raise_once_fires_once_and_leaves_a_marker(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQTUNE_FAULTS", "raise_once:t0001:1")
    monkeypatch.setenv("SEQTUNE_FAULT_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="raises once after epoch 1"):
        inject("t0001", 1, True)
    assert (tmp_path / "t0001.raise_once").exists()
    inject("t0001", 1, True)  # the retry passes


def test_hold_once_sleeps_once(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQTUNE_FAULTS", "hold_once:t0002:1")
    monkeypatch.setenv("SEQTUNE_FAULT_DIR", str(tmp_path))
    slept = []
    monkeypatch.setattr(fault_injection.time, "sleep", slept.append)
    inject("t0002", 1, True)
    inject("t0002", 1, True)
    assert slept == [fault_injection.HOLD_S]


def test_lucky_adds_the_bonus_from_its_epoch(monkeypatch):
    monkeypatch.setenv("SEQTUNE_FAULTS", "lucky:t0003:2")
    early, late = {"val_accuracy": 0.4}, {"val_accuracy": 0.4}
    lucky("t0003", 1, early, "val_accuracy")
    lucky("t0003", 2, late, "val_accuracy")
    assert early["val_accuracy"] == 0.4
    assert late["val_accuracy"] == pytest.approx(0.4 + fault_injection.LUCKY_BONUS)


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_poisoned_sets_the_first_feature_of_the_training_data(monkeypatch, kind):
    def split():
        return SequenceData(torch.zeros(4, 3, 2), torch.zeros(4, dtype=torch.long), None)

    data = DataSplits(split(), split(), split(), ["a", "b"], ["f0", "f1"])
    monkeypatch.setenv("SEQTUNE_FAULTS", f"{kind}:t0006:1")
    assert poisoned("t0001", data) is data
    bad = poisoned("t0006", data)
    assert all(math.isnan(v) if kind == "nan" else math.isinf(v) for v in bad.train.x[:, 0, 0])
    assert not bad.train.x[:, 1:].any() and bad.val.x.eq(0).all()  # only train, only there
    assert data.train.x.eq(0).all()  # the shared data untouched
