"""Typed, strictly validated configuration: the single source of truth for every run.

Each section is a dataclass; each field is declared once with its default, its documentation and
its constraints (``spec(...)``). ``load_config`` reads a YAML file, applies ``--set`` overrides and
validates everything at once: unknown keys, wrong types and out-of-range values are collected and
raised together as a ``ConfigError`` that names the file and the dotted key of each problem.
``python -m core.config`` prints the reference of every field (docs/config-reference.md).

Modules: ``sections`` (the dataclass of each section, ``Config``), ``checks`` (rules across
fields), ``load`` (YAML, overrides, validation, the reference).

Example:
    >>> cfg = config_from_dict({"training": {"epochs": 3}}, source="<example>")
    >>> cfg.training.epochs
    3
"""

from core.config.load import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    is_config_key,
    load_config,
    merged_config,
    override_keys,
    override_source,
    parse_override,
    reference,
    reference_markdown,
)
from core.config.sections import (
    METRICS,
    Config,
    DataConfig,
    EarlyStoppingConfig,
    ExperimentConfig,
    LoaderConfig,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    SyntheticConfig,
    TaskConfig,
    TrainingConfig,
)
from core.schema import ConfigError, load_yaml

__all__ = [
    "Config",
    "ConfigError",
    "ExperimentConfig",
    "TaskConfig",
    "DataConfig",
    "SyntheticConfig",
    "ModelConfig",
    "OptimConfig",
    "ScheduleConfig",
    "EarlyStoppingConfig",
    "TrainingConfig",
    "LoaderConfig",
    "METRICS",
    "load_config",
    "merged_config",
    "load_yaml",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "is_config_key",
    "override_keys",
    "override_source",
    "parse_override",
    "reference",
    "reference_markdown",
]
