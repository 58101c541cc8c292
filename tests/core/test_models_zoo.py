"""The time-series zoo: fcn, resnet, inception_time and minirocket (core.models)."""

import math
from itertools import combinations

import numpy as np
import pytest
import torch
import yaml

from core.checkpoint import load_checkpoint
from core.config import ModelConfig, config_from_dict, config_to_dict, load_config
from core.loop import fit
from core.models import build_model, check_model, count_parameters
from core.models.masked import MaskedBatchNorm1d
from core.models.minirocket import fit_dilations
from tests.conftest import tiny_dict

FAMILIES = ["fcn", "resnet", "inception_time", "minirocket"]
# Small but complete: every kind of layer of each family (inception_time: a shortcut).
SMALL = {"fcn": {"filters": 4}, "resnet": {"filters": 4, "depth": 2},
         "inception_time": {"filters": 3, "depth": 3, "bottleneck": 4},
         "minirocket": {"rocket_features": 336}}


def _model(name, features=3, outputs=4, **extra):
    return build_model(ModelConfig(name=name, **SMALL[name], **extra), features, outputs)


def _padded(lengths, t_len, features=3, fill=100.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randn(int(n), features, generator=g) for n in lengths]
    padded = torch.full((len(seqs), t_len, features), fill)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
    return seqs, padded


def _fitted(name, lengths, t_len, **extra):
    """A model whose BatchNorm running statistics (or MiniRocket biases) are not trivial."""
    torch.manual_seed(0)
    model = _model(name, **extra)
    x = torch.randn(16, t_len, 3)
    n = torch.randint(2, t_len + 1, (16,))
    if name == "minirocket":
        model.fit_data(x, n, seed=0)
    else:
        model.train()
        with torch.no_grad():
            for _ in range(3):
                model(x, n)
    return model


@pytest.mark.parametrize("name", FAMILIES)
def test_padding_never_changes_an_output_in_eval_mode(name):
    lengths = torch.tensor([11, 3, 6])
    model = _fitted(name, lengths, 11).eval()
    seqs, padded = _padded(lengths, 11)
    with torch.no_grad():
        batched = model(padded, lengths)
        alone = torch.cat([model(s[None]) for s in seqs])
    # Each sequence's outputs equal those of the sequence run on its own, without padding.
    assert torch.allclose(batched, alone, atol=1e-5), (batched - alone).abs().max()


@pytest.mark.parametrize("name", ["fcn", "resnet", "inception_time"])
def test_padding_never_changes_outputs_or_statistics_in_training_mode(name):
    # BatchNorm's batch statistics count valid steps only: the same sequences padded to 11 or
    # to 19 steps with different garbage give the same outputs and the same running statistics.
    lengths = torch.tensor([11, 3, 6, 9])
    outs, stats = [], []
    for t_len, fill in ((11, 100.0), (19, -7.0)):
        torch.manual_seed(0)
        model = _model(name).train()
        _, padded = _padded(lengths, t_len, fill=fill)
        outs.append(model(padded, lengths))
        stats.append({k: v for k, v in model.state_dict().items() if "running" in k})
    assert torch.allclose(outs[0], outs[1], atol=1e-5), (outs[0] - outs[1]).abs().max()
    for k in stats[0]:
        assert torch.allclose(stats[0][k], stats[1][k], atol=1e-5), k


def test_masked_batchnorm_is_batchnorm_over_the_valid_steps():
    torch.manual_seed(0)
    lengths = torch.tensor([5, 2, 7])
    x = torch.randn(3, 4, 7) * 3 + 1
    x[1, :, 2:] = 50.0  # padding
    x[0, :, 5:] = -50.0
    mask = (torch.arange(7)[None, :] < lengths[:, None]).float().unsqueeze(1)
    masked, plain = MaskedBatchNorm1d(4), torch.nn.BatchNorm1d(4)
    with torch.no_grad():
        masked.weight.uniform_(0.5, 2)
        plain.weight.copy_(masked.weight)
    y = masked(x, mask)
    valid = torch.cat([x[i, :, :n] for i, n in enumerate(lengths.tolist())], 1)[None]
    ref = plain(valid)[0]
    got = torch.cat([y[i, :, :n] for i, n in enumerate(lengths.tolist())], 1)
    assert torch.allclose(got, ref, atol=1e-5)
    assert torch.allclose(masked.running_mean, plain.running_mean, atol=1e-6)
    assert torch.allclose(masked.running_var, plain.running_var, atol=1e-5)
    # a full-length batch takes the same path as nn.BatchNorm1d
    full = torch.ones(3, 1, 7)
    assert torch.allclose(MaskedBatchNorm1d(4)(x, full), torch.nn.BatchNorm1d(4)(x), atol=1e-5)


# Trainable parameters of the reference Keras models for 1 channel and 2 classes (softmax head),
# counted by hand from hfawaz/dl-4-tsc and hfawaz/InceptionTime; BatchNorm: 2 trainable per channel.
# fcn: conv 1*128*8+128, BN 256, conv 128*256*5+256, BN 512, conv 256*128*3+128, BN 256,
#      dense 128*2+2                                                              = 264,962
# resnet: block 1 (64): 576 + 20,544 + 12,352 + shortcut 128, BN 4*128           =  34,112
#         block 2 (128): 65,664 + 82,048 + 49,280 + shortcut 8,320, BN 4*256     = 206,336
#         block 3 (128): 131,200 + 82,048 + 49,280, BN 3*256, shortcut BN 256    = 263,552
#         dense 258                                                               = 504,258
# inception_time: module 1 (1 channel, no bottleneck): 1*32*(40+20+10) + 32, BN 256 = 2,528
#         modules 2-6: bottleneck 128*32 + 32*32*70 + pool conv 128*32, BN 256    = 80,128 each
#         shortcuts: 1*128 + BN 256 = 384 and 128*128 + BN 256 = 16,640; dense 258 = 420,450
@pytest.mark.parametrize("name, expected", [("fcn", 264_962), ("resnet", 504_258),
                                            ("inception_time", 420_450)])
def test_parameter_counts_match_the_reference_models(name, expected):
    assert count_parameters(build_model(ModelConfig(name=name), 1, 2)) == expected


def test_minirocket_has_84_fixed_kernels_and_only_the_head_trains():
    model = build_model(ModelConfig(name="minirocket"), 1, 2)
    w = model.weights[:, 0]
    assert w.shape == (84, 9) and set(w.unique().tolist()) == {-1.0, 2.0}
    assert (w == 2).sum(1).eq(3).all() and len({tuple(r) for r in w.tolist()}) == 84
    assert model.num_features == 9996  # 10,000 rounded down to a multiple of 84
    assert count_parameters(model) == 9996 * 2 + 2


def test_minirocket_dilations_follow_the_reference():
    # 2 features per kernel: 2 dilations, 2 ** linspace(0, log2(49 / 8)) -> 1 and 6
    d, n = fit_dilations(50, 168, 32)
    assert d.tolist() == [1, 6] and n.tolist() == [1, 1]
    # the default: 119 features per kernel over at most 32 dilations, up to (L - 1) / 8
    d, n = fit_dilations(1000, 10_000, 32)
    assert n.sum() == 119 and d[0] == 1 and d[-1] == 124 and len(d) <= 32


def _reference_ppv(x, dilations, counts, biases):
    """angus924/minirocket's transform (univariate), loop by loop, in NumPy: [N, L] -> [N, K]."""
    idx = list(combinations(range(9), 3))
    out = np.zeros((len(x), len(biases)), np.float32)
    for e, series in enumerate(x):
        f = 0
        for di, (d, n_f) in enumerate(zip(dilations, counts, strict=True)):
            pad = (9 - 1) * d // 2
            xp = np.concatenate([np.zeros(pad), series, np.zeros(pad)])
            for k in range(84):
                w = -np.ones(9)
                w[list(idx[k])] = 2
                c = np.array([sum(w[j] * xp[t + j * d] for j in range(9))
                              for t in range(len(series))])
                part = c if (di + k) % 2 == 0 else c[pad:-pad]
                for _ in range(n_f):
                    out[e, f] = (part > biases[f]).mean()
                    f += 1
    return out


def test_minirocket_features_match_the_reference_transform():
    torch.manual_seed(0)
    x = torch.randn(6, 30, 1).cumsum(1)
    model = build_model(ModelConfig(name="minirocket", rocket_features=336), 1, 2)
    model.fit_data(x[:4], None, seed=3)
    dil = [d for d in model.dilations.tolist() if d]
    counts = model.features_per_dilation.tolist()[:len(dil)]
    feats = model.features(x) * model.feature_std + model.feature_mean
    ref = _reference_ppv(x[..., 0].double().numpy(), dil, counts, model.biases.double().numpy())
    assert np.allclose(feats.numpy(), ref, atol=1e-5)
    # biases are quantiles of convolution outputs of training series, inside their range
    assert model.biases.abs().max() < 3 * 9 * x[:4].abs().max()
    # seeded: the same seed fits the same biases, another seed others
    again = build_model(ModelConfig(name="minirocket", rocket_features=336), 1, 2)
    again.fit_data(x[:4], None, seed=3)
    assert torch.equal(again.biases, model.biases)
    again.fit_data(x[:4], None, seed=4)
    assert not torch.equal(again.biases, model.biases)


def test_minirocket_needs_fitting_and_its_checkpoint_holds_the_fit():
    model = build_model(ModelConfig(name="minirocket", rocket_features=168), 3, 2)
    with pytest.raises(RuntimeError, match="fit_data"):
        model(torch.randn(2, 10, 3))
    model.fit_data(torch.randn(8, 10, 3), torch.tensor([10, 9, 8, 7, 6, 5, 4, 3]), seed=0)
    fresh = build_model(ModelConfig(name="minirocket", rocket_features=168), 3, 2)
    fresh.load_state_dict(model.state_dict())
    x = torch.randn(4, 10, 3)
    assert torch.equal(fresh(x), model(x))


@pytest.mark.parametrize("task_type", ["multiclass", "binary", "multilabel", "regression"])
def test_every_family_trains_every_task_type(tiny, task_data, task_type):
    for name in FAMILIES:
        cfg = tiny(task={"type": task_type}, model={"name": name, **SMALL[name]},
                   training={"epochs": 1})
        data = task_data(cfg, task_type)
        check_model(cfg.model, data.num_features, data.num_outputs, seq_len=12)
        result = fit(cfg, data)
        out = result.model.eval()(data.val.x[:5], None)
        assert out.shape == (5, data.num_outputs), (name, task_type)
        assert math.isfinite(result.history[0]["train_loss"]), (name, task_type)


def _zoo_dict(name, **sections):
    return tiny_dict(model={"name": name, **SMALL[name]},
                     data={"synthetic": {"num_samples": 120, "seq_len": 12}}, **sections)


def _strip(history):
    return [{k: v for k, v in h.items() if k not in ("epoch_time_s", "samples_per_s")}
            for h in history]


@pytest.mark.parametrize("name", FAMILIES)
def test_resume_and_retrain_from_the_written_config_are_exact(name, tmp_path):
    # A trial's run, interrupted after epoch 1 and resumed, equals the run in one go; and the
    # config as export writes it (YAML of the complete config) retrains to the same history.
    cfg = config_from_dict(_zoo_dict(name, training={"epochs": 3}), "<test>")

    def reporter(metrics, write_checkpoint):
        if metrics["epoch"] == 1:
            write_checkpoint(tmp_path / "epoch1.pt")

    full = fit(cfg, reporter=reporter)
    resumed = fit(config_from_dict(_zoo_dict(name, training={"epochs": 3}), "<test>"),
                  resume=load_checkpoint(tmp_path / "epoch1.pt"))
    for (key, a), b in zip(full.model.state_dict().items(),
                           resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), (name, key)
    assert _strip(resumed.history) == _strip(full.history)
    path = tmp_path / "exported.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    retrained = fit(load_config(path))
    assert _strip(retrained.history) == _strip(full.history)


def test_paper_configs_load_with_the_papers_defaults():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for name in FAMILIES:
        cfg = load_config(root / "configs" / f"{name}.yaml")
        assert cfg.model.name == name and cfg.data.val_fraction == 0.0
        assert cfg.training.checkpoint_metric == "train_loss"
        assert cfg.training.early_stopping.patience == 0


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("name", FAMILIES)
def test_padding_never_changes_an_output_on_cuda(name):
    lengths = torch.tensor([11, 3, 6])
    model = _fitted(name, lengths, 11).cuda().eval()
    seqs, padded = _padded(lengths, 11)
    with torch.no_grad():
        batched = model(padded.cuda(), lengths.cuda())
        alone = torch.cat([model(s[None].cuda()) for s in seqs])
    assert torch.allclose(batched, alone, atol=1e-4), (batched - alone).abs().max()


@cuda
@pytest.mark.parametrize("name", FAMILIES)
def test_variable_length_training_step_is_captured_as_a_cuda_graph(name, caplog):
    import logging

    from core.config import DataConfig
    from core.data import from_arrays

    g = np.random.default_rng(0)
    x = g.standard_normal((96, 20, 3)).astype(np.float32)
    lengths = g.integers(5, 21, 96)
    y = g.integers(0, 3, 96)
    data = from_arrays(x, y, lengths, DataConfig(val_fraction=0.2, test_fraction=0.0))
    runs = {}
    for graph in (False, True):
        cfg = config_from_dict(_zoo_dict(name, experiment={"device": "cuda"},
                                         training={"epochs": 3, "cuda_graph": graph,
                                                   "precision": "fp32"}), "<test>")
        with caplog.at_level(logging.INFO, logger="core"):
            caplog.clear()
            runs[graph] = fit(cfg, data)
        if graph:
            assert "captured as a CUDA graph" in caplog.text and "failed" not in caplog.text
    for a, b in zip(runs[False].history, runs[True].history, strict=True):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-3 * max(1.0, a["train_loss"])
