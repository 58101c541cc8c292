"""tuning.space._cpu: the cpu: section applied to a space, and validated under cpu.<key>."""

from pathlib import Path

import pytest

from core.config import ConfigError
from tuning.space import parse_space, scaled_for_cpu

ROOT = Path(__file__).resolve().parents[3]
BASE = str(ROOT / "configs" / "gru.yaml")


def test_cpu_section_scales_the_space_and_is_validated():
    raw = {"base_config": BASE, "num_samples": 48, "max_epochs": 20,
           "params": {"model.hidden_size": {"type": "categorical", "choices": [64, 256]},
                      "optim.lr": {"type": "float", "low": 1e-4, "high": 1e-2}},
           "cpu": {"num_samples": 12, "max_epochs": 10,
                   "params": {"model.hidden_size": {"type": "categorical", "choices": [64]}},
                   "set": {"data.synthetic.num_samples": 4000}}}
    parse_space(raw, "space.yaml", ROOT)  # valid
    scaled, overrides, changes = scaled_for_cpu(raw)
    assert "cpu" not in scaled and scaled["num_samples"] == 12 and scaled["max_epochs"] == 10
    assert scaled["params"]["model.hidden_size"]["choices"] == [64]
    assert scaled["params"]["optim.lr"] == raw["params"]["optim.lr"]
    assert overrides == ["data.synthetic.num_samples=4000"]
    assert "num_samples 48 -> 12" in changes
    bad = {**raw, "cpu": {"max_epochs": 0, "set": {"data.size": 1}, "speed": 2}}
    with pytest.raises(ConfigError) as exc:
        parse_space(bad, "space.yaml", ROOT)
    keys = {k for k, _ in exc.value.problems}
    assert {"cpu.speed"} <= keys
    bad = {**raw, "cpu": {"max_epochs": 0, "set": {"data.size": 1}}}
    with pytest.raises(ConfigError) as exc:
        parse_space(bad, "space.yaml", ROOT)
    assert {k for k, _ in exc.value.problems} == {"cpu.max_epochs", "cpu.set.data.size"}
