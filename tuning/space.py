"""Search spaces: declarative YAML, validated strictly, compiled into an Optuna define-by-run space.

A space file names the base config it starts from, the metric, the budget, the ASHA and sampler
settings, the resources, and ``params``: dotted config keys mapped to a distribution or a fixed
value, optionally conditional (``tuning.space_params`` shows one; search_spaces/gru.yaml is the
commented example).

This module reads a space file into a ``SearchSpace`` (``load_space``, ``parse_space``) and
knows ASHA's rungs. Its parts live beside it, and their public names are importable from here:
the file's settings (``tuning.space_settings``), the ``params`` parser and ``when`` conditions
(``tuning.space_params``), the ``cpu:`` section (``tuning.space_cpu``) and the define-by-run
function with its distributions (``tuning.space_optuna``). ``python -m tuning.space`` prints
the reference of the space's settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import ConfigError, load_yaml
from core.schema import build
from tuning.space_cpu import CPU_KEYS, scaled_for_cpu, section_problems
from tuning.space_optuna import compile_space, distributions, misfits
from tuning.space_params import Param, condition_holds, order_params, parse_params
from tuning.space_settings import (
    ConfirmSettings,
    ResourcesSettings,
    SamplerSettings,
    SchedulerSettings,
    SpaceSettings,
    TrackingSettings,
    reference_markdown_space,
)

__all__ = ["CPU_KEYS", "ConfirmSettings", "Param", "ResourcesSettings", "SamplerSettings",
           "SchedulerSettings", "SearchSpace", "SpaceSettings", "TrackingSettings", "asha_rungs",
           "compile_space", "condition_holds", "distributions", "fixed_params", "load_space",
           "misfits", "parse_space", "reference_markdown_space", "scaled_for_cpu"]


@dataclass
class SearchSpace:
    """A validated search space: the settings flattened (``SpaceSettings``), the parameters in
    dependency order, and the file as read (``raw``)."""

    source: str
    base_config: Path  # resolved: absolute, relative paths taken from the space file's folder
    metric: str = "val_accuracy"
    mode: str = "max"
    num_samples: int = 32
    max_epochs: int = 20
    grace_period: int = 2  # epochs before ASHA's first rung
    reduction_factor: int = 3  # ASHA keeps 1/reduction_factor of trials per rung
    sampler: str = "tpe"  # tpe | random | qmc
    sampler_seed: int = 0
    n_startup_trials: int = 8  # TPE: random trials before the model is used
    trials_per_gpu: int = 1
    cpus_per_trial: float = 1.0
    # Seconds between a trial's checkpoints (its last epoch is always saved); 0 saves every
    # epoch. A killed trial resumes from its newest checkpoint, so this bounds the work lost.
    checkpoint_interval_s: float = 10.0
    # Confirmation (tuning.confirm, docs/confirmation.md): after the search, the best
    # ``confirm_top_k`` distinct configurations are retrained at full length on
    # ``confirm_seeds`` fresh seeds each; 0 switches it off. Costs top_k * seeds * max_epochs
    # trial-epochs. ``confirm_budget_share``: the part of --time-budget kept for it.
    confirm_top_k: int = 0
    confirm_seeds: int = 0
    confirm_budget_share: float = 0.2
    # tracking: (docs/tracking.md): the MLflow URI and experiment; --mlflow overrides the URI.
    tracking_uri: str | None = None
    tracking_experiment: str | None = None
    params: list[Param] = field(default_factory=list)
    raw: dict = field(default_factory=dict)  # the file as read: frozen into the sweep directory

    @property
    def rungs(self) -> tuple[int, ...]:
        """The epochs at which ASHA compares trials (``asha_rungs`` of this space)."""
        return asha_rungs(self.grace_period, self.reduction_factor, self.max_epochs)


def fixed_params(space: SearchSpace) -> dict[str, Any]:
    """The space's unconditional fixed values: every trial's config has them."""
    return {p.name: p.value for p in space.params if p.type == "fixed" and not p.when}


def asha_rungs(grace_period: int, reduction_factor: int, max_epochs: int) -> tuple[int, ...]:
    """The epochs at which ASHA compares trials: Ray's milestones for one bracket,
    ``grace_period * reduction_factor**k`` up to ``max_epochs``.

    Example:
        >>> asha_rungs(2, 3, 20)
        (2, 6, 18)
    """
    count = int(math.log(max_epochs / grace_period) / math.log(reduction_factor) + 1)
    return tuple(grace_period * reduction_factor ** k for k in range(count))


def _base_task_type(base_path: Path) -> str:
    """task.type of the base config file, or multiclass when it cannot be read."""
    try:
        task = load_yaml(base_path).get("task") if base_path.is_file() else None
    except ConfigError:
        return "multiclass"
    return task.get("type", "multiclass") if isinstance(task, dict) else "multiclass"


def parse_space(raw: dict, source: str, base_dir: Path, *, frozen: bool = False) -> SearchSpace:
    """Validates a parsed space file; every problem is reported with the file and key.
    ``frozen``: a sweep's frozen copy, whose base config need not exist any more (the sweep
    keeps its resolved copy).

    Raises:
        ConfigError: every problem of the file, each as (dotted key, message), ``source`` named.
    """
    problems: list[tuple[str, str]] = []
    # cpu: is checked on its own (tuning.space_cpu): the section the sweep applies without a GPU
    settings = build(SpaceSettings, {k: v for k, v in raw.items() if k != "cpu"}, "", problems)
    base = settings.base_config
    base_path = Path()
    if not base and not any(k == "base_config" for k, _ in problems):
        problems.append(("base_config", "required: path of the config the search starts from "
                                        "(relative to this file)"))
    elif base:
        base_path = (base_dir / base).resolve()
        if not frozen and not base_path.is_file():
            problems.append(("base_config", f"file not found: {base_path}"))
    space = SearchSpace(source=source, base_config=base_path, raw=raw)

    from core.tasks import TASK_TYPES, default_checkpoint_metric, metrics_for

    # The metrics the base config's task produces (its own validation reports a bad task.type).
    task_type = _base_task_type(base_path)
    task_type = task_type if task_type in TASK_TYPES else "multiclass"
    metrics = metrics_for(task_type)
    space.metric = settings.metric or default_checkpoint_metric(task_type)
    if space.metric not in metrics:
        problems.append(("metric", f"must be one of the metrics {task_type} tasks produce: "
                                   f"{', '.join(metrics)}, got {space.metric!r}"))
    space.mode = settings.mode or metrics.get(space.metric, "max")
    if space.metric in metrics and space.mode != metrics[space.metric]:
        problems.append(("mode", f"{space.metric} improves when it goes {metrics[space.metric]}"))
    space.num_samples, space.max_epochs = settings.num_samples, settings.max_epochs
    space.checkpoint_interval_s = settings.checkpoint_interval_s
    space.grace_period = settings.scheduler.grace_period
    space.reduction_factor = settings.scheduler.reduction_factor
    if space.grace_period > space.max_epochs:
        problems.append(("scheduler.grace_period", f"must be <= max_epochs ({space.max_epochs})"))
    space.sampler, space.sampler_seed = settings.sampler.name, settings.sampler.seed
    space.n_startup_trials = settings.sampler.n_startup_trials
    space.trials_per_gpu = settings.resources.trials_per_gpu
    space.cpus_per_trial = settings.resources.cpus_per_trial

    space.confirm_top_k = settings.confirm.top_k
    space.confirm_seeds = settings.confirm.seeds if space.confirm_top_k else 0
    space.confirm_budget_share = settings.confirm.budget_share
    space.tracking_uri = settings.tracking.mlflow
    space.tracking_experiment = settings.tracking.experiment
    if space.tracking_uri is not None and not frozen:
        from core.tracking import check_uri

        problem = check_uri(space.tracking_uri)
        if problem:
            problems.append(("tracking.mlflow", problem))

    if "cpu" in raw:
        problems += section_problems(raw, lambda scaled: parse_space(scaled, source, base_dir))
    if not settings.params and not any(k == "params" for k, _ in problems):
        problems.append(("params", "expected a non-empty mapping of config keys to "
                                   "distributions"))
    params = parse_params(settings.params, problems)
    if problems:
        raise ConfigError(source, problems)
    space.params = order_params(params, source)
    return space


def load_space(path: str | Path) -> SearchSpace:
    """Reads and validates the space file ``path``; ``ConfigError`` names the file and keys."""
    path = Path(path)
    raw = load_yaml(path)
    return parse_space(raw, str(path), path.resolve().parent)


if __name__ == "__main__":
    print(reference_markdown_space(), end="")
