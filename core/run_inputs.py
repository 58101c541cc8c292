"""The arguments of ``core.run.run_training`` made into a validated ``Config`` and ``DataSplits``.

A model is the config's ``model.name``, or a callable ``model(num_features, num_outputs,
**model.kwargs) -> nn.Module`` (the user-model contract of ``core.models.registry``): a callable
that ``module:qualname`` finds again is recorded under that import path (the snapshot then
retrains with ``python -m core.train`` wherever the module imports); any other callable (a
lambda, a closure) is registered in this process under ``api_<qualname>`` with
``core.models.register``, and a resume needs the same ``model`` again. Data come from the
config's ``data`` section, from arrays (``ArrayData`` or a mapping with the same keys), or as
ready ``DataSplits``.
"""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_override,
)
from core.data import DataError, DataSplits, from_arrays, load_data
from core.data.files import check_finite

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ArrayData", "model_name", "resolve_config", "resolve_data"]


@dataclass(frozen=True)
class ArrayData:
    """In-memory data for ``run_training``, split as the config's ``data`` section says
    (``core.data.from_arrays``).

    ``x``: [N, T, F] float features (anything beyond a sequence's length is zeroed).
    ``y``: [N] class labels (multiclass, binary: ints or strings), [N, K] 0/1 (multilabel) or
    [N] / [N, D] floats (regression). ``lengths``: [N] valid steps, or None for all T.
    ``split``: [N] of "train" / "val" / "test" (with ``data.split: given``), ``groups``: [N] ids
    kept together by ``data.split: group``. ``feature_names``: F names; ``label_names``:
    multilabel labels or regression targets.
    """

    x: Any
    y: Any
    lengths: Any = None
    split: Any = None
    groups: Any = None
    feature_names: list[str] | None = None
    label_names: list[str] | None = None


def model_name(model: Callable[..., nn.Module]) -> str:
    """The ``model.name`` that finds ``model`` again (see the module docstring)."""
    module, qualname = getattr(model, "__module__", None), getattr(model, "__qualname__", "")
    if module and module != "__main__" and "<" not in qualname:
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            obj = None
        if obj is model:
            return f"{module}:{qualname}"
    from core.models import register

    name = "api_" + "_".join(re.findall(r"[A-Za-z0-9]+", qualname or type(model).__name__))
    register(name)(model)
    return name


def resolve_config(config: Config | Mapping | str | Path, overrides: list[str],
                   model: Callable[..., nn.Module] | None) -> tuple[Config, str]:
    """The validated config and its source name (for error messages): ``config`` (a ``Config``,
    a mapping of sections or a YAML file) with ``overrides`` (``KEY=VALUE``) and, when ``model``
    is given, ``model.name`` set to find it (``model_name``).

    Raises:
        ConfigError: the config or an override is invalid (source and dotted key named).
    """
    if isinstance(config, (str, Path)):
        cfg, source = load_config(config, overrides), str(config)
        raw = None
    else:
        source = "<Config>" if isinstance(config, Config) else "<dict>"
        raw = config_to_dict(config) if isinstance(config, Config) else copy.deepcopy(
            dict(config))
        raw = apply_overrides(raw, [parse_override(o) for o in overrides], "overrides")
        cfg = config_from_dict(raw, source)
    if model is not None:
        raw = config_to_dict(cfg)
        raw["model"]["name"] = model_name(model)
        cfg = config_from_dict(raw, source)
    return cfg, source


def resolve_data(cfg: Config, data: ArrayData | Mapping | DataSplits | None) -> DataSplits:
    """The splits of ``data`` (see ``core.run.run_training``); array shapes are checked here,
    naming the array (``data['y']``), because ``from_arrays`` trusts them.

    Raises:
        DataError: an unknown key, a missing ``x`` or ``y``, arrays of the wrong shape, or NaN/inf
            features (the same check as a data file's, naming sequence, step and feature).
    """
    if data is None:
        return load_data(cfg.data, cfg.task)
    import numpy as np

    if isinstance(data, DataSplits):
        for name in ("train", "val", "test"):
            part = getattr(data, name)
            lengths = None if part.lengths is None else part.lengths.cpu().numpy()
            check_finite(part.x.cpu().numpy(), lengths, "data", f"data.{name}.x")
        return data

    if not isinstance(data, ArrayData):
        unknown = sorted(set(data) - set(ArrayData.__dataclass_fields__))
        if unknown or "x" not in data or "y" not in data:
            raise DataError("data", f"expected the keys x, y and optionally lengths, split, "
                                    f"groups, feature_names, label_names; got {sorted(data)}")
        data = ArrayData(**dict(data))
    x = np.asarray(data.x, dtype=np.float32)
    if x.ndim != 3 or 0 in x.shape:
        raise DataError("data['x']", f"expected [N, T, F] with N, T, F >= 1, got shape "
                                     f"{list(x.shape)}")
    n, t = x.shape[:2]
    arrays = {"y": data.y, "lengths": data.lengths, "split": data.split, "groups": data.groups}
    for key, value in arrays.items():
        if value is not None and len(value) != n:
            raise DataError(f"data['{key}']", f"has {len(value)} rows; x has {n} sequences")
    lengths = None if data.lengths is None else np.asarray(data.lengths, dtype=np.int64)
    if lengths is not None and (lengths.ndim != 1 or lengths.min() < 1 or lengths.max() > t):
        raise DataError("data['lengths']", f"expected [N] valid steps in 1..{t} (T)")
    return from_arrays(x, np.asarray(data.y), lengths, cfg.data, data.feature_names,
                       task=cfg.task,
                       split=None if data.split is None else np.asarray(data.split),
                       groups=None if data.groups is None else np.asarray(data.groups),
                       label_names=data.label_names)


