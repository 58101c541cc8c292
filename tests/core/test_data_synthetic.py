"""The embedded data sets per task type (core/data/synthetic.py)."""

import numpy as np
import pytest
import torch

from core.config import DataConfig, SyntheticConfig, TaskConfig
from core.data import generate_synthetic, load_data, synthetic_task

ARGS = dict(num_samples=400, seq_len=24, num_channels=3, num_motifs=3, noise=0.5, seed=4)


def test_multiclass_is_generate_synthetic_bit_for_bit():
    x, y = generate_synthetic(*ARGS.values())
    made = synthetic_task("multiclass", **ARGS)
    assert np.array_equal(made.x, x)
    assert made.y.tolist() == [f"m{k // 3}>m{k % 3}" for k in y.tolist()]


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel", "regression"])
def test_each_variant_is_deterministic_and_seeded(task):
    a, b = synthetic_task(task, **ARGS), synthetic_task(task, **ARGS)
    c = synthetic_task(task, **{**ARGS, "seed": 5})
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_binary_variant_has_the_asked_share_of_positives_and_order_matters():
    made = synthetic_task("binary", **ARGS, positive_fraction=0.05)
    assert made.y.sum() == 20 and set(made.y.tolist()) == {0, 1}
    # The negatives hold every other ordered pair, the reversed pair (m1 then m0) among them:
    # the same noise and positions as the multiclass set, with other motifs inserted.
    x_multi, _ = generate_synthetic(*ARGS.values())
    assert not np.array_equal(made.x, x_multi)


def test_multilabel_variant_labels_the_motifs_present():
    made = synthetic_task("multilabel", **ARGS)
    assert made.y.shape == (400, 3) and made.label_names == ["m0", "m1", "m2"]
    per_seq = made.y.sum(1)
    # Zero, one or two motifs per sequence; each half holds one with probability 0.8.
    assert set(per_seq.tolist()) <= {0, 1, 2} and (per_seq == 0).any()
    assert 0.6 < per_seq.mean() / 2 < 0.8 + 0.05


def test_regression_variant_targets_gap_and_amplitude_difference():
    made = synthetic_task("regression", **ARGS)
    gap, amp = made.y[:, 0], made.y[:, 1]
    motif_len = 24 // 6
    # Starts lie in separate halves: the gap is at least one motif and at most T - motif.
    assert gap.min() >= motif_len and gap.max() <= 24 - motif_len
    assert np.abs(amp).max() <= 1.0 and amp.std() > 0.2


@pytest.mark.parametrize("task,outputs", [("binary", 1), ("multilabel", 3), ("regression", 2)])
def test_load_data_follows_task_type_for_the_synthetic_source(task, outputs):
    cfg = DataConfig(synthetic=SyntheticConfig(**{k: v for k, v in ARGS.items()}))
    d = load_data(cfg, TaskConfig(type=task))
    assert d.task == task and d.num_outputs == outputs
    assert d.train.y.dtype == torch.float32
    assert (d.target_mean is not None) == (task == "regression")
