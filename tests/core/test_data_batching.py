"""Batches (core/data/batching.py): the balanced sampler in both loader modes, exactly resumable."""

import numpy as np
import pytest
import torch

from core.config import DataConfig, LoaderConfig, TaskConfig
from core.data import BatchSource, balanced_weights, from_arrays


def _imbalanced(task="multiclass"):
    # 200 train sequences: classes 0/1/2 in 150/40/10 (binary: 180 negatives, 20 positives).
    y = np.repeat([0, 1, 2], [150, 40, 10]) if task == "multiclass" else \
        np.repeat([0, 1], [180, 20])
    x = np.random.default_rng(0).standard_normal((200, 3, 1)).astype(np.float32)
    split = np.asarray(["train"] * 200 + ["val"] * 2)
    y = np.concatenate([y, [0, 1]])
    x = np.concatenate([x, x[:2]])
    return from_arrays(x, y, None, DataConfig(normalize=False), split=split,
                       task=TaskConfig(type=task)).train


def _epoch_ids(src, train):
    # x[:, 0, 0] identifies a sequence: map each batch row back to its index in the split.
    key = {float(v): i for i, v in enumerate(train.x[:, 0, 0].tolist())}
    return [key[float(v)] for batch in src for v in batch[0][:, 0, 0].tolist()]


@pytest.mark.parametrize("mode", ["tensor", "dataloader"])
@pytest.mark.parametrize("task", ["multiclass", "binary"])
def test_balanced_sampler_draws_classes_equally_often(mode, task):
    train = _imbalanced(task)
    src = BatchSource(train, LoaderConfig(mode=mode, sampler="balanced"), torch.device("cpu"),
                      32, torch.Generator().manual_seed(0))
    drawn = []
    for _ in range(20):
        ids = _epoch_ids(src, train)
        assert len(ids) == len(train)  # N draws per epoch, as many batches as random order
        drawn += ids
    share = np.bincount(train.y.long().numpy()[drawn]) / len(drawn)
    k = len(share)
    # 4000 draws: each class near 1/K (binomial sd about 0.008), against 0.05-0.9 unbalanced.
    assert np.allclose(share, 1 / k, atol=0.04), share


@pytest.mark.parametrize("mode", ["tensor", "dataloader"])
def test_balanced_order_resumes_exactly_from_the_generator_state(mode):
    train = _imbalanced()
    cfg = LoaderConfig(mode=mode, sampler="balanced")
    g = torch.Generator().manual_seed(5)
    src = BatchSource(train, cfg, torch.device("cpu"), 16, g)
    _epoch_ids(src, train)
    state = g.get_state()  # what a checkpoint after epoch 1 holds
    after = [_epoch_ids(src, train) for _ in range(2)]
    resumed = torch.Generator()
    resumed.set_state(state)
    src2 = BatchSource(train, cfg, torch.device("cpu"), 16, resumed)
    # The resumed run draws the same epochs 2 and 3; and epochs differ from each other.
    assert [_epoch_ids(src2, train) for _ in range(2)] == after
    assert after[0] != after[1]


def test_balanced_weights_reject_targets_without_classes():
    assert torch.allclose(balanced_weights(torch.tensor([0, 0, 0, 1])),
                          torch.tensor([1 / 3, 1 / 3, 1 / 3, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="one class per sequence"):
        balanced_weights(torch.zeros(4, 3))


@pytest.mark.parametrize("task", ["multilabel", "regression"])
def test_config_rejects_balanced_sampler_without_classes(task):
    from core.config import ConfigError, config_from_dict

    with pytest.raises(ConfigError, match="loader.sampler"):
        config_from_dict({"task": {"type": task}, "loader": {"sampler": "balanced"}})


@pytest.mark.parametrize("mode", ["tensor", "dataloader"])
def test_a_run_with_balanced_sampling_resumes_bit_exactly(tiny, tmp_path, mode):
    from core.checkpoint import load_checkpoint
    from core.loop import fit

    over = dict(training={"epochs": 2}, loader={"mode": mode, "sampler": "balanced"})

    def reporter(metrics, write_checkpoint):
        if metrics["epoch"] == 1:
            write_checkpoint(tmp_path / "epoch1.pt")

    full = fit(tiny(**over), reporter=reporter)
    resumed = fit(tiny(**over), resume=load_checkpoint(tmp_path / "epoch1.pt"))
    # Epoch 2 draws the same balanced samples: bit-identical weights at the end.
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
