"""CUDA-graph capture of the training step.

The reasons and the eager fallback are tested everywhere; capture itself needs a GPU, so the tests
that need one run where CUDA is (``pytest tests/core/test_cuda_graph.py`` there); the
README's step-speed table and the closing notes record where they last ran.
"""

import logging

import pytest
import torch

from core.checkpoint import load_checkpoint
from core.cuda_graph import portable_optimizer_state, unsupported_reason
from core.loop import fit
from tests.core.test_loop import _strip

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

OK = dict(device=torch.device("cuda", 0), loader_mode="tensor", grad_accum_steps=1,
          precision="fp32", optimizer="adamw", compile=False, bidirectional=False,
          has_lengths=False)


@pytest.mark.parametrize("change, words", [
    ({"device": torch.device("cpu")}, "CUDA device"),
    ({"loader_mode": "dataloader"}, "loader.mode"),
    ({"grad_accum_steps": 2}, "grad_accum_steps"),
    ({"precision": "fp16"}, "GradScaler"),
    ({"optimizer": "sgd"}, "optim.name sgd"),
    ({"compile": True}, "compile"),
    ({"bidirectional": True, "has_lengths": True}, "bidirectional"),
])
def test_each_obstacle_to_capture_is_named(change, words):
    assert unsupported_reason(**OK) is None
    assert unsupported_reason(**{**OK, "bidirectional": True}) is None  # fixed length: fine
    assert words in unsupported_reason(**{**OK, **change})


def test_cpu_run_falls_back_to_eager_with_the_reason_logged(tiny, caplog):
    eager = fit(tiny())
    with caplog.at_level(logging.INFO, logger="core"):
        graphed = fit(tiny(training={"cuda_graph": True}))
    assert "training.cuda_graph: CUDA graphs need a CUDA device" in caplog.text
    assert "training eagerly" in caplog.text
    assert _strip(graphed.history) == _strip(eager.history)


def test_checkpoints_store_a_float_learning_rate_and_leave_the_optimizer_alone():
    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.AdamW([p], lr=torch.tensor(0.01))
    opt.param_groups[0]["capturable"] = True
    sd = portable_optimizer_state(opt)
    assert sd["param_groups"][0]["lr"] == pytest.approx(0.01)
    assert not torch.is_tensor(sd["param_groups"][0]["lr"])
    assert sd["param_groups"][0]["capturable"] is False
    assert torch.is_tensor(opt.param_groups[0]["lr"]) and opt.param_groups[0]["capturable"]


def _gpu_cfg(tiny, **training):
    return tiny(experiment={"device": "cuda"},
                data={"synthetic": {"num_samples": 700, "seq_len": 24}},  # short last batch
                model={"hidden_size": 32},
                training={"epochs": 4, "batch_size": 64, **training})


@cuda
def test_graphed_training_follows_the_eager_loss_curve(tiny, caplog):
    eager = fit(_gpu_cfg(tiny))
    with caplog.at_level(logging.INFO, logger="core"):
        graphed = fit(_gpu_cfg(tiny, cuda_graph=True))
    assert "captured as a CUDA graph" in caplog.text
    for e, g in zip(eager.history, graphed.history, strict=True):
        assert g["train_loss"] == pytest.approx(e["train_loss"], rel=2e-3)
        assert g["val_loss"] == pytest.approx(e["val_loss"], rel=2e-3)
        assert g["lr"] == pytest.approx(e["lr"], rel=1e-6)  # the per-step schedule moves
        assert g["global_step"] == e["global_step"]


@cuda
def test_graphed_run_resumes_from_its_checkpoint_and_from_an_eager_one(tiny, tmp_path):
    full = fit(_gpu_cfg(tiny, cuda_graph=True))
    for mode in (True, False):
        path = tmp_path / f"ck-{mode}.pt"

        def stop_after_2(metrics, write_checkpoint, path=path):
            if metrics["epoch"] == 2:
                write_checkpoint(path)
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            fit(_gpu_cfg(tiny, cuda_graph=mode), reporter=stop_after_2)
        resumed = fit(_gpu_cfg(tiny, cuda_graph=True), resume=load_checkpoint(path))
        for a, b in zip(full.history[2:], resumed.history[2:], strict=True):
            assert b["val_loss"] == pytest.approx(a["val_loss"], rel=2e-3)


@cuda
def test_capture_failure_trains_on_eagerly(tiny, caplog, monkeypatch):
    import core.epochs as epochs

    def broken(*args, **kwargs):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(epochs, "GraphedStep", broken)
    eager = fit(_gpu_cfg(tiny))
    with caplog.at_level(logging.WARNING, logger="core"):
        fallback = fit(_gpu_cfg(tiny, cuda_graph=True))
    assert "capture failed (RuntimeError" in caplog.text
    for e, f in zip(eager.history, fallback.history, strict=True):
        assert f["val_loss"] == pytest.approx(e["val_loss"], rel=2e-3)


@cuda
@pytest.mark.parametrize("shape", [
    {"model": {"num_layers": 3, "dropout": 0.3, "hidden_size": 64},
     "schedule": {"name": "onecycle"}, "training": {"batch_size": 256}},
    {"model": {"name": "lstm"}, "schedule": {"name": "none"}, "training": {"precision": "bf16"}},
    {"model": {"name": "tcn"}, "optim": {"name": "adam"}},
])
def test_the_default_space_and_other_models_capture(tiny, caplog, shape):
    cfg = tiny(experiment={"device": "cuda"}, data={"synthetic": {"num_samples": 1200}},
               **{k: {**v, **({"cuda_graph": True} if k == "training" else {})}
                  for k, v in shape.items()},
               **({} if "training" in shape else {"training": {"cuda_graph": True}}))
    with caplog.at_level(logging.INFO, logger="core"):
        result = fit(cfg)
    assert "captured as a CUDA graph" in caplog.text, caplog.text[-2000:]
    assert all(h["train_loss"] == h["train_loss"] for h in result.history)  # finite, not NaN


def _with_lengths(data):
    """The same data with variable lengths (half to all of T steps): the key-padding path."""
    import dataclasses

    gen = torch.Generator().manual_seed(0)

    def part(split):
        t_len = split.x.shape[1]
        lengths = torch.randint(t_len // 2, t_len + 1, (len(split),), generator=gen)
        x = split.x * (torch.arange(t_len)[None, :, None] < lengths[:, None, None])
        return dataclasses.replace(split, x=x, lengths=lengths)

    return dataclasses.replace(data, train=part(data.train), val=part(data.val),
                               test=part(data.test))


# No dropout: with it, graphed and eager runs draw different masks (measured on an H200: 3e-2
# apart after 5 epochs at dropout 0.1; without it, identical losses).
TRANSFORMER = {"name": "transformer", "hidden_size": 32, "num_layers": 2, "num_heads": 4,
               "dropout": 0.0, "pooling": "cls"}


@cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("lengths", [False, True], ids=["full", "padded"])
def test_transformer_step_is_captured_and_follows_eager(tiny, caplog, precision, lengths):
    from core.data import load_data

    def cfg(graph):
        return tiny(experiment={"device": "cuda"},
                    data={"synthetic": {"num_samples": 700, "seq_len": 24}}, model=TRANSFORMER,
                    training={"epochs": 3, "batch_size": 64, "precision": precision,
                              "cuda_graph": graph})

    data = load_data(cfg(False).data, cfg(False).task)
    data = _with_lengths(data) if lengths else data
    eager = fit(cfg(False), data)
    with caplog.at_level(logging.INFO, logger="core"):
        graphed = fit(cfg(True), data)
    assert "captured as a CUDA graph" in caplog.text, caplog.text[-2000:]
    tol = 2e-3 if precision == "fp32" else 2e-2
    for e, g in zip(eager.history, graphed.history, strict=True):
        assert g["train_loss"] == pytest.approx(e["train_loss"], rel=tol)
        assert g["val_loss"] == pytest.approx(e["val_loss"], rel=tol)


SYNCING = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_features, num_outputs):
        super().__init__()
        self.out = nn.Linear(num_features, num_outputs)

    def forward(self, x, lengths=None):
        if x.abs().max().item() > 1e6:  # a host sync: not capturable
            raise ValueError("input out of range")
        return self.out(x.mean(1))
'''


@cuda
def test_user_model_that_syncs_falls_back_to_eager_with_the_reason(tiny, caplog, tmp_path,
                                                                   monkeypatch):
    (tmp_path / "syncnet.py").write_text(SYNCING)
    monkeypatch.syspath_prepend(str(tmp_path))
    model = {"name": "syncnet:Net"}
    eager = fit(tiny(experiment={"device": "cuda"}, model=model,
                     training={"epochs": 2, "batch_size": 64}))
    with caplog.at_level(logging.INFO, logger="core"):
        fallback = fit(tiny(experiment={"device": "cuda"}, model=model,
                            training={"epochs": 2, "batch_size": 64, "cuda_graph": True}))
    assert "training.cuda_graph: capture failed" in caplog.text, caplog.text[-2000:]
    assert "training eagerly" in caplog.text
    for e, f in zip(eager.history, fallback.history, strict=True):
        assert f["val_loss"] == pytest.approx(e["val_loss"], rel=2e-3)


@cuda
def test_the_documented_user_model_is_captured(tiny, caplog, monkeypatch):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "docs" / "examples" /
                                    "user_model"))
    with caplog.at_level(logging.INFO, logger="core"):
        result = fit(tiny(experiment={"device": "cuda"},
                          model={"name": "mynets:ConvGRU", "kwargs": {"hidden": 16}},
                          training={"epochs": 2, "batch_size": 32, "cuda_graph": True}))
    assert "captured as a CUDA graph" in caplog.text, caplog.text[-2000:]
    assert all(h["train_loss"] == h["train_loss"] for h in result.history)


@cuda
@pytest.mark.parametrize("task", [
    {"type": "multiclass", "class_weight": "balanced", "label_smoothing": 0.1},
    {"type": "multiclass", "loss": "focal"},
    {"type": "binary", "pos_weight": "balanced"},
    {"type": "binary", "loss": "focal", "focal_alpha": 0.25},
    {"type": "multilabel"},
    {"type": "regression", "loss": "huber"},
], ids=lambda t: "-".join(str(v) for v in t.values()))
def test_every_task_loss_captures_and_follows_the_eager_curve(tiny, task_data, caplog, task):
    def cfg(**training):
        return tiny(task=task, experiment={"device": "cuda"},
                    data={"synthetic": {"num_samples": 700, "seq_len": 24}},
                    model={"hidden_size": 32}, training={"epochs": 3, "batch_size": 64,
                                                         **training})

    data = task_data(cfg(), task["type"])
    eager = fit(cfg(), data)
    with caplog.at_level(logging.INFO, logger="core"):
        graphed = fit(cfg(cuda_graph=True), data)
    assert "captured as a CUDA graph" in caplog.text, caplog.text[-2000:]
    for e, g in zip(eager.history, graphed.history, strict=True):
        assert g["train_loss"] == pytest.approx(e["train_loss"], rel=2e-3)
        assert g["val_loss"] == pytest.approx(e["val_loss"], rel=2e-3)
