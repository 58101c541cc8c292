import csv
import json
import re

import numpy as np
import pytest
import torch
import yaml
from torch import nn

import core
from core.config import ConfigError
from core.data import DataError, load_data
from core.run import resume_training, run_training
from core.run_dir import RunError
from core.run_inputs import ArrayData
from tests.conftest import tiny_dict


class MeanHead(nn.Module):
    """A user model: mean over valid steps, then a linear layer."""

    def __init__(self, num_features: int, num_outputs: int, width: int = 8):
        super().__init__()
        self.proj = nn.Linear(num_features, width)
        self.out = nn.Linear(width, num_outputs)

    def forward(self, x, lengths=None):
        h = torch.tanh(self.proj(x))
        if lengths is None:
            return self.out(h.mean(1))
        mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
        return self.out((h * mask).sum(1) / lengths[:, None])


def build_mean_head(num_features, num_outputs, width=8):
    return MeanHead(num_features, num_outputs, width)


def arrays(n=120, t=10, f=3, seed=0):
    """Two classes told apart by the sign of feature 0; ragged lengths."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, t, f)).astype(np.float32)
    x[:, :, 0] += np.where(y == 1, 1.5, -1.5)[:, None]
    lengths = rng.integers(4, t + 1, n)
    return x, y, lengths


def test_core_package_exports_the_api_lazily():
    # the names resolve from their modules; import core itself does not need torch
    assert core.run_training is run_training and "run_training" in core.__all__
    assert core.ArrayData is ArrayData and core.RunError is RunError


def test_run_training_on_arrays_with_a_callable_model(tmp_path):
    x, y, lengths = arrays()
    cfg = tiny_dict(training={"epochs": 3, "batch_size": 16}, optim={"lr": 0.03},
                    model={"kwargs": {"width": 6}})
    result = run_training(cfg, data={"x": x, "y": y, "lengths": lengths},
                          model=lambda nf, no, width: MeanHead(nf, no, width),
                          run_dir=tmp_path / "run", quiet=True)
    # one history row per epoch, also in metrics.csv; the separable task is learned
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [float(r["val_accuracy"]) for r in rows] == \
        pytest.approx([h["val_accuracy"] for h in result.history])
    assert result.metric == "val_accuracy" and result.best_metric >= 0.8
    assert result.history[result.best_epoch - 1]["val_accuracy"] == result.best_metric
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test"] == result.test and result.test["test_accuracy"] >= 0.7
    assert list(result.history_frame()["epoch"]) == [1, 2, 3]
    # a lambda is not importable: registered in memory, under a name the config accepts
    snap = yaml.safe_load((tmp_path / "run" / "config_snapshot.yaml").read_text())
    assert snap["model"]["name"].startswith("api_") and snap["model"]["kwargs"] == {"width": 6}
    state = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    assert state["model"]["proj.weight"].shape == (6, 3)


def test_importable_callable_is_recorded_by_path_and_given_split_is_used(tmp_path):
    x, y, _ = arrays(n=90)
    split = np.array(["train"] * 60 + ["val"] * 15 + ["test"] * 15)
    result = run_training(tiny_dict(training={"epochs": 1}),
                          data=ArrayData(x=x, y=y, split=split), model=build_mean_head,
                          run_dir=tmp_path / "run", quiet=True)
    snap = yaml.safe_load((tmp_path / "run" / "config_snapshot.yaml").read_text())
    # the snapshot names the builder by import path, so python -m core.train can retrain it
    assert snap["model"]["name"] == f"{__name__}:build_mean_head"
    # the given split, not a stratified one, decided the splits' sizes
    log = (tmp_path / "run" / "train.log").read_text()
    for name, n in (("train", 60), ("val", 15), ("test", 15)):
        assert re.search(rf"{name}\s+{n} sequences", log), name
    assert result.test is not None


def test_run_training_from_a_yaml_file_with_overrides_equals_the_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_dict()))
    result = run_training(path, overrides=["training.epochs=1"], run_dir=tmp_path / "run",
                          quiet=True)
    # the override reached the run, and the data came from the config's data section
    assert len(result.history) == 1 and result.status == "completed"


def test_resume_training_continues_an_interrupted_run_exactly(tmp_path, monkeypatch):
    import core.run as run

    cfg = tiny_dict(training={"epochs": 3})
    run_training(cfg, run_dir=tmp_path / "full", quiet=True)
    real, calls = run.metrics_csv, {"n": 0}

    def interrupt_after_two(history, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(history, *args)

    monkeypatch.setattr(run, "metrics_csv", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, run_dir=tmp_path / "part", quiet=True)
    monkeypatch.setattr(run, "metrics_csv", real)
    result = resume_training(tmp_path / "part", quiet=True)
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "checkpoints" / "last.pt", weights_only=True)
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    # a finished run cannot be resumed
    with pytest.raises(RunError, match="already finished"):
        resume_training(tmp_path / "part")


@pytest.mark.parametrize("case", ["config", "data", "model", "run_dir", "not_a_run"])
def test_bad_input_raises_and_writes_nothing(tmp_path, case):
    x, y, lengths = arrays(n=40)
    run_dir = tmp_path / "run"
    kwargs = {"run_dir": run_dir, "quiet": True}
    cfg = tiny_dict()
    if case == "config":
        cfg["training"]["epochs"] = 0
        err, match = ConfigError, r"<dict>: training.epochs"
    elif case == "data":
        kwargs["data"] = {"x": x, "y": y[:10]}
        err, match = DataError, r"data\['y'\]: has 10 rows; x has 40 sequences"
    elif case == "model":
        kwargs["model"] = lambda nf, no: MeanHead(nf, no + 1)  # one output too many
        err, match = ConfigError, r"model.name: .*expected logits \[2, 4\]"
    elif case == "run_dir":
        run_dir.mkdir()
        (run_dir / "keep.txt").write_text("x")
        err, match = RunError, "not empty"
    else:
        with pytest.raises(RunError, match="not a run directory"):
            resume_training(tmp_path / "nothing")
        assert not (tmp_path / "nothing").exists()
        return
    before = sorted(p.name for p in run_dir.iterdir()) if run_dir.exists() else None
    with pytest.raises(err, match=match):
        run_training(cfg, **kwargs)
    after = sorted(p.name for p in run_dir.iterdir()) if run_dir.exists() else None
    assert before == after


def test_datasplits_are_used_as_given(tmp_path, tiny):
    cfg = tiny()
    data = load_data(cfg.data, cfg.task)
    result = run_training(cfg, data=data, run_dir=tmp_path / "run", quiet=True)
    assert len(result.history) == cfg.training.epochs


def test_best_pt_is_the_later_epoch_of_a_tie_with_the_lower_val_loss(tmp_path, monkeypatch):
    from core.checkpoint import load_checkpoint
    from tests.core.test_loop import SATURATED, _scripted_validation

    # val_accuracy saturates at 1.0 from epoch 2; val_loss is lowest at epoch 3 (validation only
    # is scripted; the test split is evaluated for real)
    _scripted_validation(monkeypatch, SATURATED[:4])
    result = run_training(tiny_dict(training={"epochs": 4}), run_dir=tmp_path / "run",
                          quiet=True)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert result.best_epoch == 3 and summary["best_epoch"] == 3
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")["epoch"] == 3


@pytest.mark.parametrize("form", ["mapping", "splits"])
def test_run_training_checks_arrays_for_nan_like_a_file_and_writes_nothing(tmp_path, form):
    x, y, lengths = arrays()
    x[5, 2, 1] = np.inf
    lengths[5] = 10
    cfg = tiny_dict()
    data = {"x": x, "y": y, "lengths": lengths}
    if form == "splits":  # ready DataSplits made without the check (as a user might build them)
        from core.config import config_from_dict
        from core.data import from_arrays

        clean = x.copy()
        clean[5, 2, 1] = 0.0
        data = from_arrays(clean, y, lengths, config_from_dict(cfg, "<t>").data)
        data.train.x[0, 0, 1] = float("nan")
    with pytest.raises(DataError, match="NaN/inf") as info:
        run_training(cfg, data=data, run_dir=tmp_path / "run", quiet=True)
    if form == "mapping":
        assert info.value.key == "data['x']"
        assert "sequence 5, step 2, feature 1" in str(info.value)
    else:
        assert "data.train.x" in str(info.value) and "sequence 0, step 0, feature 1" in \
            str(info.value)
    assert not (tmp_path / "run").exists()


def test_run_training_logs_a_feature_constant_in_train(tmp_path):
    x, y, lengths = arrays()
    x[:, :, 2] = 1.0
    run_training(tiny_dict(), data={"x": x, "y": y, "lengths": lengths},
                 run_dir=tmp_path / "run", quiet=True)
    log = (tmp_path / "run" / "train.log").read_text()
    assert "warning: feature 'f2' is constant in the train split" in log
