import sys
import textwrap

import pytest
import torch

from core.config import ConfigError, ModelConfig, config_from_dict
from core.models import MODELS, build_model, check_model, register

CASES = [
    ("gru", False, "last"), ("gru", False, "mean"), ("gru", True, "last"), ("gru", True, "max"),
    ("lstm", False, "last"), ("lstm", True, "mean"), ("tcn", False, "last"),
    ("tcn", False, "mean"), ("tcn", False, "max"),
    ("transformer", False, "cls"), ("transformer", False, "mean"),
    ("transformer", False, "last"), ("transformer", False, "max"),
]


def _padded(lengths, features=3, t_len=7):
    seqs = [torch.randn(int(n), features) for n in lengths]
    padded = torch.zeros(len(seqs), t_len, features)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
        padded[i, len(s):] = 100.0  # garbage padding must not leak into the output
    return seqs, padded


@pytest.mark.parametrize("name,bidirectional,pooling", CASES)
def test_padded_batch_matches_unpadded_sequences(name, bidirectional, pooling):
    torch.manual_seed(0)
    cfg = ModelConfig(name=name, hidden_size=8, num_layers=2, bidirectional=bidirectional,
                      pooling=pooling, num_heads=2)
    model = build_model(cfg, 3, 4).eval()
    lengths = torch.tensor([7, 3, 5])
    seqs, padded = _padded(lengths)
    with torch.no_grad():
        batched = model(padded, lengths)
        alone = torch.cat([model(s[None]) for s in seqs])
    # Each sequence's logits equal those of the sequence run on its own, without padding.
    assert torch.allclose(batched, alone, atol=1e-5), (batched - alone).abs().max()


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_transformer_padding_invariant_in_training_mode_too(positions):
    # Dropout off, training mode: the attention path the training step takes (no fast path).
    torch.manual_seed(0)
    cfg = ModelConfig(name="transformer", hidden_size=8, num_layers=2, num_heads=2,
                      positions=positions, pooling="mean", max_len=16)
    model = build_model(cfg, 3, 4).train()
    lengths = torch.tensor([7, 2, 5])
    seqs, padded = _padded(lengths)
    batched = model(padded, lengths)
    alone = torch.cat([model(s[None]) for s in seqs])
    assert torch.allclose(batched, alone, atol=1e-5), (batched - alone).abs().max()


def test_transformer_positions_matter_and_learned_positions_have_a_limit():
    torch.manual_seed(0)
    cfg = ModelConfig(name="transformer", hidden_size=8, num_heads=2, positions="learned",
                      max_len=6, pooling="mean")
    model = build_model(cfg, 3, 4).eval()
    x = torch.randn(1, 5, 3)
    with torch.no_grad():
        # Mean pooling is order-blind; only the positions make the reversed sequence differ.
        assert not torch.allclose(model(x), model(x.flip(1)))
        with pytest.raises(ValueError, match="model.max_len"):
            model(torch.randn(1, 7, 3))
    with pytest.raises(ConfigError, match="model.max_len"):
        check_model(cfg, 3, 4, seq_len=7)


def test_transformer_options_reach_the_layers():
    cfg = ModelConfig(name="transformer", hidden_size=12, num_layers=3, num_heads=3, ff_size=20,
                      dropout=0.2, pooling="cls")
    model = build_model(cfg, 5, 2)
    layers = model.encoder.layers
    assert len(layers) == 3
    assert layers[0].self_attn.num_heads == 3 and layers[0].linear1.out_features == 20
    assert layers[0].norm_first and layers[0].dropout.p == 0.2
    assert model.cls is not None and model.cls.shape == (1, 1, 12)


@pytest.mark.parametrize("model, key", [
    ({"name": "transformer", "hidden_size": 10, "num_heads": 4}, "model.hidden_size"),
    ({"name": "gru", "pooling": "cls"}, "model.pooling"),
    ({"name": "transformer", "bidirectional": True}, "model.bidirectional"),
    ({"name": "not a name"}, "model.name"),
    ({"name": "pkg:"}, "model.name"),
    ({"plugins": ["ok.module", "1bad"]}, "model.plugins[1]"),
    ({"kwargs": [1, 2]}, "model.kwargs"),
])
def test_model_section_syntax_is_checked_with_the_key_named(model, key):
    with pytest.raises(ConfigError) as exc:
        config_from_dict({"model": model}, "m.yaml")
    assert [k for k, _ in exc.value.problems] == [key]


def test_registry_has_the_built_in_models():
    assert {"gru", "lstm", "tcn", "transformer"} <= set(MODELS)


def test_built_in_models_take_no_kwargs():
    with pytest.raises(ConfigError, match="model.kwargs: the built-in model gru takes no kwargs"):
        check_model(ModelConfig(name="gru", kwargs={"width": 3}), 3, 4)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Writes a module into a folder on sys.path; returns a function (name, source) -> None."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written = []

    def write(name: str, source: str) -> None:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)

    yield write
    for name in written:
        sys.modules.pop(name, None)


NET = """
    from torch import nn

    def build(num_features, num_outputs, width=8):
        return Net(num_features, num_outputs, width)

    class Net(nn.Module):
        def __init__(self, num_features, num_outputs, width):
            super().__init__()
            self.inp = nn.Linear(num_features, width)
            self.out = nn.Linear(width, num_outputs)

        def forward(self, x, lengths=None):
            return self.out(self.inp(x).mean(1))
"""


def test_user_model_by_path_gets_sizes_and_kwargs(user_module):
    user_module("unet_path", NET)
    cfg = ModelConfig(name="unet_path:build", kwargs={"width": 5})
    check_model(cfg, 3, 4)
    model = build_model(cfg, 3, 4)
    assert model.inp.in_features == 3 and model.inp.out_features == 5
    assert model(torch.randn(2, 6, 3), torch.tensor([6, 2])).shape == (2, 4)


def test_user_model_registered_by_a_plugin(user_module):
    user_module("unet_plugin", """
        from core.models import register
        from unet_path import build

        register("unet_registered")(build)
    """)
    user_module("unet_path", NET)
    cfg = ModelConfig(name="unet_registered", plugins=["unet_plugin"], kwargs={"width": 6})
    check_model(cfg, 3, 2)
    assert build_model(cfg, 3, 2).inp.out_features == 6
    MODELS.pop("unet_registered")


def test_register_refuses_a_built_in_name():
    with pytest.raises(ValueError, match="built-in"):
        register("gru")


@pytest.mark.parametrize("name, kwargs, plugins, key, words", [
    ("missing_mod:build", {}, [], "model.name",
     "cannot import missing_mod: ModuleNotFoundError: No module named 'missing_mod'"),
    ("unet_broken:build", {}, [], "model.name",
     "cannot import unet_broken: ZeroDivisionError: division by zero"),
    ("gru", {}, ["missing_plugin"], "model.plugins[0]", "No module named 'missing_plugin'"),
    ("unet_path:nope", {}, [], "model.name", "has no attribute 'nope'"),
    ("unregistered", {}, [], "model.name", "unknown model 'unregistered'"),
    ("unet_path:build", {"depth": 2}, [], "model.kwargs",
     "got an unexpected keyword argument 'depth'"),
    ("unet_strict:build", {}, [], "model.kwargs", "argument: 'width'"),
    ("unet_shape:build", {}, [], "model.name", "expected logits [2, 4]"),
    ("unet_crash:build", {}, [], "model.name", "failed on a probe batch"),
    ("unet_notmodule:build", {}, [], "model.name", "not an nn.Module"),
])
def test_each_user_model_failure_names_its_key(user_module, name, kwargs, plugins, key, words):
    user_module("unet_path", NET)
    user_module("unet_broken", "x = 1 / 0\n")
    user_module("unet_strict", "from unet_path import Net\n\n"
                               "def build(num_features, num_outputs, *, width):\n"
                               "    return Net(num_features, num_outputs, width)\n")
    # Per-step logits [B, T, K] instead of [B, K]:
    user_module("unet_shape", NET.replace("self.inp(x).mean(1)", "self.inp(x)"))
    user_module("unet_crash", NET.replace("return self.out", "return lengths.foo + self.out"))
    user_module("unet_notmodule", "def build(f, k):\n    return 'net'\n")
    with pytest.raises(ConfigError) as exc:
        check_model(ModelConfig(name=name, kwargs=kwargs, plugins=plugins), 3, 4,
                    source="my.yaml")
    (problem,) = exc.value.problems
    assert problem[0] == key
    assert words in problem[1]
    assert str(exc.value).startswith("my.yaml: " + key)


def test_tuned_kwargs_are_bound_before_any_trial(user_module):
    user_module("unet_path", NET)
    cfg = ModelConfig(name="unet_path:build")
    check_model(cfg, 3, 4, tuned_kwargs=("width",))
    with pytest.raises(ConfigError, match="unexpected keyword argument 'widht'"):
        check_model(cfg, 3, 4, tuned_kwargs=("widht",))


def test_shipped_transformer_config_and_space_train_a_tiny_cpu_run():
    from pathlib import Path

    from core.config import config_to_dict, load_config
    from core.loop import fit
    from tuning.space import load_space, trial_config

    root = Path(__file__).resolve().parents[2]
    space = load_space(root / "search_spaces" / "transformer.yaml")
    assert space.base_config == root / "configs" / "transformer.yaml"
    base = config_to_dict(load_config(space.base_config, [
        "experiment.device=cpu", "data.synthetic.num_samples=180", "data.synthetic.seq_len=12"]))
    # The space's last choices and upper bounds: the widest, deepest point trains too.
    params = {p.name: p.high if p.type in ("int", "float") else
              p.choices[-1] if p.type == "categorical" else p.value for p in space.params}
    params["training.batch_size"] = 16  # several optimizer steps on 126 training sequences
    cfg = trial_config(base, params, 2, "<test>")
    assert cfg.model.name == "transformer" and cfg.model.hidden_size == 256
    check_model(cfg.model, 4, 9, seq_len=12)
    result = fit(cfg)
    assert len(result.history) == 2
    assert all(h["train_loss"] == h["train_loss"] for h in result.history)  # not NaN
