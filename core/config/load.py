"""Reading a training config: YAML files, ``--set`` overrides, validation, the reference.

``load_config`` reads a YAML file, applies ``--set`` overrides and validates everything at once:
unknown keys, wrong types and out-of-range values are collected and raised together as a
``ConfigError`` that names the file and the dotted key of each problem.

Example:
    >>> cfg = config_from_dict({"training": {"epochs": 3}}, source="<example>")
    >>> cfg.training.epochs
    3
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from pathlib import Path
from typing import Any

from core.config.checks import cross_checks
from core.config.sections import Config
from core.schema import ConfigError, build, load_yaml, parse_scalar
from core.schema import reference as schema_reference
from core.schema import reference_markdown as schema_reference_markdown

__all__ = ["load_config", "config_from_dict", "config_to_dict", "apply_overrides",
           "is_config_key", "override_keys", "override_source", "parse_override", "reference",
           "reference_markdown"]


def is_config_key(key: str) -> bool:
    """Whether a dotted key names a config field or an entry of a free-form mapping
    (``model.kwargs.<name>``): the keys a search space may tune."""
    cls, parts = Config, key.split(".")
    for i, part in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) \
            else {}
        if part not in fields:
            return False
        tp = typing.get_type_hints(cls)[part]
        if typing.get_origin(tp) is dict:
            return i < len(parts) - 1 and all(parts[i + 1:])
        cls = tp
    return not dataclasses.is_dataclass(cls)


def config_from_dict(raw: dict, source: str = "<config>") -> Config:
    """Validates a nested mapping and returns the typed config, or raises ``ConfigError``."""
    problems: list[tuple[str, str]] = []
    cfg = build(Config, raw, "", problems)
    if not problems:
        cross_checks(cfg, problems)
    if problems:
        raise ConfigError(source, problems)
    return cfg


def config_to_dict(cfg) -> dict:
    """Plain nested dict of a config (lists, not tuples): YAML- and checkpoint-safe."""
    return dataclasses.asdict(cfg)


def parse_override(text: str) -> tuple[str, Any]:
    """Splits ``KEY=VALUE`` and parses VALUE as a YAML scalar."""
    if "=" not in text:
        raise ConfigError("--set", [(text, "expected KEY=VALUE")])
    key, value = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError("--set", [(text, "empty key")])
    return key, parse_scalar(value)


def apply_overrides(raw: dict, overrides: list[tuple[str, Any]], source: str = "--set") -> dict:
    """Returns a copy of ``raw`` with dotted-key overrides set. Keys are validated later."""
    out = copy.deepcopy(raw)
    for key, value in overrides:
        node = out
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(source, [(".".join(parts[: i + 1]), "is not a section")])
            node = nxt
        node[parts[-1]] = value
    return out


def merged_config(path: str | Path | None, overrides: list[str] | None = None) -> dict:
    """The config file's mapping (empty when ``path`` is None) with ``--set`` overrides applied,
    not yet checked: what ``load_config`` validates, for readers that need one value of a config
    that may not validate (the sweep's metric replaces an invalid checkpoint metric).

    Raises:
        ConfigError: the file cannot be read or parsed, or an override is malformed.
    """
    raw = load_yaml(path) if path is not None else {}
    return apply_overrides(raw, [parse_override(o) for o in overrides or []])


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Loads a YAML config (or the defaults when ``path`` is None) with ``--set`` overrides.

    Problems in the file are reported against the file; problems introduced by an override are
    reported against ``--set`` and its key.
    """
    source = str(path) if path is not None else "<defaults>"
    merged = merged_config(path, overrides)
    try:
        return config_from_dict(merged, source)
    except ConfigError as exc:
        # The task decides which keys and metrics a config may have: a --set of task.type
        # concerns every problem.
        raise ConfigError(override_source(source, exc.problems, overrides, also=("task.type",)),
                          exc.problems) from None


def override_keys(overrides: list[str] | None) -> list[str]:
    """The dotted keys that overrides (``KEY=VALUE``) set, in order, each once.

    Example:
        >>> override_keys(["training.epochs=3", "model.name=tcn", "training.epochs=4"])
        ['training.epochs', 'model.name']
    """
    return list(dict.fromkeys(o.partition("=")[0].strip() for o in overrides or []))


def override_source(source: str, problems: list[tuple[str, str]],
                    overrides: list[str] | None, also: tuple[str, ...] = ()) -> str:
    """What a problem with a config is reported against: ``source`` (the config file), marked
    ``(with --set)`` when a problem's dotted key, or one of ``also`` (keys that decided the
    problems too), is one that an override (``KEY=VALUE``) set, so the user looks at the command
    line and not only at the file. Used for the config's own checks and for later ones (the
    data, the sweep's pre-flight).

    Example:
        >>> override_source("configs/gru.yaml", [("training.batch_size", "too large")],
        ...                 ["training.batch_size=512"])
        'configs/gru.yaml (with --set)'
    """
    keys = set(override_keys(overrides))
    named = [k for k, _ in problems] + list(also)
    return f"{source} (with --set)" if any(k in keys for k in named) else source


def reference(cls=Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, documentation) for every config field (``core.schema.reference``)."""
    return schema_reference(cls, prefix)


def reference_markdown() -> str:
    """The config reference table (docs/config-reference.md), generated from the declarations
    in ``core.config.sections``."""
    return schema_reference_markdown(Config)
