"""The sweep's metric and its trials' checkpoint metric: one choice, unless the user makes two.

A sweep ranks trials by its ``metric``; each trial picks its best epoch (``best.pt``, the
exported config's) by ``training.checkpoint_metric``. The sweep's metric replaces the base
config's checkpoint metric before that config is checked (a file's ``val_accuracy`` is no error
for a sweep that ``--set task.type=regression`` makes a regression), unless the user chose the
checkpoint metric explicitly: a ``--set`` of it, or a space parameter of that name.
"""

from __future__ import annotations

from pathlib import Path

from core.config import merged_config, override_keys
from core.tasks import metric_problem
from tuning.space import SearchSpace

__all__ = ["CHECKPOINT_METRIC", "alignment_line", "checkpoint_metric_overrides",
           "explicit_checkpoint_metric"]

CHECKPOINT_METRIC = "training.checkpoint_metric"


def explicit_checkpoint_metric(raw: dict, overrides: list[str]) -> bool:
    """Whether the user chose the trials' checkpoint metric: a ``--set`` of it or a space
    parameter of that name (a base config file's value is not a choice for the sweep)."""
    return CHECKPOINT_METRIC in override_keys(overrides) or \
        CHECKPOINT_METRIC in (raw.get("params") or {})


def alignment_line(space: SearchSpace, raw: dict, base: dict, overrides: list[str],
                   before: list[str]) -> str | None:
    """The sweep's metric is the trials' ``training.checkpoint_metric`` (their best epoch and
    ``best.pt``), so the sweep's ranking, a trial's best epoch and its exported config agree
    (``base`` already says so: ``checkpoint_metric_overrides``), unless the user chose another
    one explicitly (``explicit_checkpoint_metric``). Returns the line the log shows when the
    sweep's metric and the checkpoint metric differ, or when the base config file stated
    another one."""
    metric = space.settings.metric
    stated = base["training"]["checkpoint_metric"]
    if explicit_checkpoint_metric(raw, overrides):
        if stated == metric:
            return None
        how = "--set" if CHECKPOINT_METRIC in override_keys(overrides) else \
            f"params.{CHECKPOINT_METRIC}"
        return (f"the sweep ranks trials by {metric} but {how} asks the trials to choose their "
                f"best epoch (best.pt, export) by {stated}")
    in_file = _file_checkpoint_metric(space.base_config, before + list(overrides))
    if in_file is None or in_file == metric:
        return None
    task = base["task"]["type"]
    if metric_problem(task, in_file) is not None:
        return (f"the trials choose their best epoch by the sweep's metric {metric} (the base "
                f"config's {CHECKPOINT_METRIC} {in_file} is not one a {task} task produces; "
                f"a standalone run of the base config with this --set needs --set "
                f"{CHECKPOINT_METRIC}=...)")
    return (f"the trials choose their best epoch by the sweep's metric {metric} (the base "
            f"config's {CHECKPOINT_METRIC} {in_file} applies to standalone runs; "
            f"--set {CHECKPOINT_METRIC}=... keeps another one)")


def _file_checkpoint_metric(base_config: Path, overrides: list[str]) -> str | None:
    """The checkpoint metric the base config file states (None: it states none), unchecked:
    it may be one the task after ``--set`` does not produce."""
    value = (merged_config(base_config, overrides).get("training") or {}) \
        .get("checkpoint_metric")
    return value if isinstance(value, str) else None


def checkpoint_metric_overrides(space: SearchSpace, raw: dict, overrides: list[str]) -> list[str]:
    """The overrides (KEY=VALUE, applied before the user's) that make the sweep's metric the
    base config's checkpoint metric, in its own direction; none when the user chose one."""
    if explicit_checkpoint_metric(raw, overrides):
        return []
    return [f"{CHECKPOINT_METRIC}={space.settings.metric}", "training.checkpoint_mode=null"]
