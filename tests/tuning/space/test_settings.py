"""tuning.space._settings: the space file's own keys, validated like the training config, and
their generated reference."""

from pathlib import Path

import pytest

from core.config import ConfigError
from tuning.space import parse_space, reference_markdown_space

ROOT = Path(__file__).resolve().parents[3]
BASE = str(ROOT / "configs" / "gru.yaml")


def test_space_reference_is_current():
    # Generated from SpaceSettings: regenerate it with python -m tuning.space.
    assert reference_markdown_space() in (ROOT / "docs" / "config-reference.md").read_text()


def test_space_settings_are_validated_like_the_config():
    raw = {"base_config": BASE, "params": {"optim.lr": 0.1}, "num_samples": "many",
           "sampler": {"name": "tpe", "seed": True}, "resources": {"cpus_per_trial": "2e0"},
           "checkpoint_interval_s": "1e1"}
    with pytest.raises(ConfigError) as info:
        parse_space(raw, "space.yaml", ROOT)
    # The training config's messages, in its format: file, dotted key, message.
    assert str(info.value).splitlines() == [
        "space.yaml: num_samples: expected an integer, got 'many'",
        "space.yaml: sampler.seed: expected an integer, got True"]
    raw.update(num_samples=4, sampler={"seed": 1})
    space = parse_space(raw, "space.yaml", ROOT)
    # YAML 1.1's 1e1 (a string) is a number, as in the training config.
    assert (space.cpus_per_trial, space.checkpoint_interval_s) == (2.0, 10.0)
