"""run_training's arguments made into a config and splits (end to end: tests/core/test_run.py)."""

import numpy as np
import pytest

from core.config import ConfigError
from core.data import DataError
from core.run_inputs import ArrayData, model_name, resolve_config, resolve_data
from tests.conftest import tiny_dict
from tests.core.test_run import build_mean_head


def test_an_importable_callable_is_named_by_path_and_a_lambda_is_registered():
    assert model_name(build_mean_head) == "tests.core.test_run:build_mean_head"
    name = model_name(lambda nf, no: None)
    assert name.startswith("api_") and "lambda" in name
    from core.models import MODELS

    assert name in MODELS


def test_resolve_config_applies_overrides_and_names_the_source():
    cfg, source = resolve_config(tiny_dict(), ["training.epochs=5"], None)
    assert cfg.training.epochs == 5 and source == "<dict>"
    # a bad value from an override is reported against the config it was applied to
    with pytest.raises(ConfigError, match="<dict>: training.epochs: must be >= 1"):
        resolve_config(tiny_dict(), ["training.epochs=0"], None)


def test_resolve_data_checks_the_array_shapes_and_keys():
    cfg, _ = resolve_config(tiny_dict(), [], None)
    x = np.zeros((40, 6, 2), dtype=np.float32)
    y = np.arange(40) % 2
    splits = resolve_data(cfg, ArrayData(x=x, y=y))
    assert len(splits.train) + len(splits.val) + len(splits.test) == 40
    with pytest.raises(DataError, match=r"data\['y'\]"):
        resolve_data(cfg, {"x": x, "y": y[:10]})
    with pytest.raises(DataError, match="expected the keys"):
        resolve_data(cfg, {"x": x, "labels": y})
