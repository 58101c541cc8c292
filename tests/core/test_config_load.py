"""Reading configs: every field's own constraints, YAML files, --set overrides
(core.config.load; rules across fields: test_config_checks.py)."""

from pathlib import Path

import pytest

from core.config.load import config_from_dict, is_config_key, load_config, parse_override
from core.schema import ConfigError, load_yaml

BAD = [
    # (raw config, dotted key named in the error, words in the message)
    ({"training": {"epochs": 0}}, "training.epochs", ">= 1"),
    ({"training": {"epochs": "ten"}}, "training.epochs", "integer"),
    ({"training": {"epochs": True}}, "training.epochs", "integer"),
    ({"training": {"epoch": 3}}, "training.epoch", "unknown key"),
    ({"trainig": {"epochs": 3}}, "trainig", "unknown key"),
    ({"optim": {"lr": -1}}, "optim.lr", "> 0"),
    ({"optim": {"lr": "fast"}}, "optim.lr", "number"),
    ({"optim": {"lr": float("nan")}}, "optim.lr", "finite"),
    ({"optim": {"name": "lamb"}}, "optim.name", "one of"),
    ({"model": {"kwargs": {1: 2}}}, "model.kwargs", "string keys"),
    ({"model": {"dropout": 1.0}}, "model.dropout", "< 1"),
    ({"model": {"bidirectional": "yes"}}, "model.bidirectional", "true or false"),
    ({"data": {"val_fraction": -0.1}}, "data.val_fraction", ">= 0"),
    ({"data": {"synthetic": {"num_motifs": 9}}}, "data.synthetic.num_motifs", "<= 6"),
    ({"data": {"synthetic": "big"}}, "data.synthetic", "mapping"),
    ({"loader": {"prefetch_factor": 0}}, "loader.prefetch_factor", ">= 1"),
    ({"task": {"type": "ranking"}}, "task.type", "one of"),
]


def assert_names_key(raw: dict, key: str, words: str) -> None:
    """``raw`` is refused with a message that names the file and the dotted key ``key`` and
    contains ``words`` (also used by test_config_checks.py)."""
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, "cfg.yaml")
    assert any(k == key for k, _ in info.value.problems), info.value.problems
    text = str(info.value)
    assert f"cfg.yaml: {key}:" in text and words in text


@pytest.mark.parametrize("raw,key,words", BAD)
def test_bad_field_names_key(raw, key, words):
    # The message names the file and the dotted key, and says what is wrong.
    assert_names_key(raw, key, words)


def test_all_problems_reported_at_once():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"training": {"epochs": 0, "batch_size": -1}, "optim": {"lr": 0}})
    keys = {k for k, _ in info.value.problems}
    assert {"training.epochs", "training.batch_size", "optim.lr"} <= keys


def test_scientific_notation_string_is_a_number():
    # PyYAML reads 1e-3 as a string; float fields accept it as the number it means.
    cfg = config_from_dict({"optim": {"lr": "1e-3"}})
    assert cfg.optim.lr == pytest.approx(1e-3) and isinstance(cfg.optim.lr, float)


def test_int_given_for_float_becomes_float():
    assert isinstance(config_from_dict({"optim": {"lr": 1}}).optim.lr, float)


def test_duplicate_yaml_key_is_an_error(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("training:\n  epochs: 3\n  epochs: 4\n")
    with pytest.raises(ConfigError, match="duplicate key 'epochs'"):
        load_yaml(p)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_config(tmp_path / "nope.yaml")


def test_python_tag_is_refused(tmp_path):
    canary = tmp_path / "canary"
    p = tmp_path / "evil.yaml"
    p.write_text(f"experiment: !!python/object/apply:os.system ['touch {canary}']\n")
    with pytest.raises(ConfigError):
        load_yaml(p)
    assert not canary.exists()


def test_overrides_parse_yaml_scalars_and_validate(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("training:\n  epochs: 5\n")
    cfg = load_config(p, ["training.epochs=3", "model.hidden_size=64", "optim.betas=[0.8, 0.9]",
                          "model.bidirectional=true"])
    assert cfg.training.epochs == 3 and cfg.model.hidden_size == 64
    assert cfg.optim.betas == [0.8, 0.9] and cfg.model.bidirectional is True
    with pytest.raises(ConfigError) as info:
        load_config(p, ["training.epochs=0"])
    assert "(with --set)" in str(info.value) and "training.epochs" in str(info.value)
    assert parse_override("a.b=1e-3") == ("a.b", "1e-3")


def test_override_into_a_value_is_an_error(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("training:\n  epochs: 5\n")
    with pytest.raises(ConfigError, match="training.epochs: is not a section"):
        load_config(p, ["training.epochs.x=1"])


def test_config_keys_include_free_form_model_kwargs_but_not_sections():
    assert is_config_key("optim.lr") and is_config_key("model.kwargs.width")
    assert not is_config_key("optim") and not is_config_key("optim.learning_rate")
    assert not is_config_key("model.kwargs")


def test_merged_config_is_the_file_with_overrides_unchecked():
    from core.config import merged_config

    gru = Path(__file__).resolve().parents[2] / "configs" / "gru.yaml"
    # regression with the file's val_accuracy: load_config refuses it, the merged mapping holds it
    merged = merged_config(gru, ["task.type=regression"])
    assert merged["task"]["type"] == "regression"
    assert merged["training"]["checkpoint_metric"] == "val_accuracy"
    assert merged_config(None, ["training.epochs=3"]) == {"training": {"epochs": 3}}
