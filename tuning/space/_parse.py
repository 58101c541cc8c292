"""Search spaces: declarative YAML, validated strictly, compiled into an Optuna define-by-run space.

A space file names the base config it starts from, the metric, the budget, the ASHA and sampler
settings, the resources, and ``params``: dotted config keys mapped to a distribution or a fixed
value, optionally conditional (``tuning.space._params`` shows one; search_spaces/gru.yaml is the
commented example).

This module reads a space file into a ``SearchSpace`` (``load_space``, ``parse_space``) and
knows ASHA's rungs. Its parts live beside it, and their public names are importable from here:
the file's settings (``tuning.space._settings``), the ``params`` parser and ``when`` conditions
(``tuning.space._params``), the ``cpu:`` section (``tuning.space._cpu``) and the define-by-run
function with its distributions (``tuning.space._optuna``). ``python -m tuning.space`` prints
the reference of the space's settings.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import (
    ConfigError,
    load_yaml,
    merged_config,
    override_source,
)
from core.schema import build
from core.tasks import TASK_TYPES, default_checkpoint_metric, direction, metric_problem
from tuning.space._cpu import CPU_KEYS, scaled_for_cpu, section_problems
from tuning.space._optuna import compile_space, distributions, misfits
from tuning.space._params import Param, condition_holds, order_params, parse_params
from tuning.space._settings import (
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
           "base_task_type",
           "compile_space", "condition_holds", "distributions", "fixed_params", "load_space",
           "misfits", "parse_space", "reference_markdown_space", "rule_problems",
           "scaled_for_cpu"]


@dataclass
class SearchSpace:
    """A validated search space: the file's settings as declared (``SpaceSettings``, with
    ``metric`` and ``mode`` resolved), the base config's resolved path, the parameters in
    dependency order, and its file form (``raw``: as read, or as ``edited`` left it).

    The properties read ``settings``; none has a default of its own. ``confirm_seeds`` is 0 when
    confirmation is off (``confirm.top_k`` 0), whatever ``confirm.seeds`` says (its default, 3,
    applies once top_k is set, e.g. by ``--confirm``).
    """

    source: str
    base_config: Path  # resolved: absolute, relative paths taken from the space file's folder
    settings: SpaceSettings = field(default_factory=SpaceSettings)
    params: list[Param] = field(default_factory=list)
    # The file as read, with the sweep's edits (tuning.space._edit): frozen into the sweep's
    # directory.
    raw: dict = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return self.settings.metric

    @property
    def mode(self) -> str:
        return self.settings.mode

    @property
    def num_samples(self) -> int:
        return self.settings.num_samples

    @property
    def max_epochs(self) -> int:
        return self.settings.max_epochs

    @property
    def checkpoint_interval_s(self) -> float:
        return self.settings.checkpoint_interval_s

    @property
    def grace_period(self) -> int:
        return self.settings.scheduler.grace_period

    @property
    def reduction_factor(self) -> int:
        return self.settings.scheduler.reduction_factor

    @property
    def sampler(self) -> str:
        return self.settings.sampler.name

    @property
    def sampler_seed(self) -> int:
        return self.settings.sampler.seed

    @property
    def n_startup_trials(self) -> int:
        return self.settings.sampler.n_startup_trials

    @property
    def trials_per_gpu(self) -> int:
        return self.settings.resources.trials_per_gpu

    @property
    def cpus_per_trial(self) -> float:
        return self.settings.resources.cpus_per_trial

    @property
    def confirm_top_k(self) -> int:
        return self.settings.confirm.top_k

    @property
    def confirm_seeds(self) -> int:
        return self.settings.confirm.seeds if self.settings.confirm.top_k else 0

    @property
    def confirm_budget_share(self) -> float:
        return self.settings.confirm.budget_share

    @property
    def tracking_uri(self) -> str | None:
        """tracking.mlflow (docs/tracking.md); --mlflow overrides it."""
        return self.settings.tracking.mlflow

    @property
    def tracking_experiment(self) -> str | None:
        return self.settings.tracking.experiment

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


def base_task_type(base_path: Path, overrides: Sequence[str] = ()) -> str:
    """task.type of the base config file with ``overrides`` (``--set KEY=VALUE``) applied, or
    multiclass when it cannot be read (its own validation reports why)."""
    try:
        raw = merged_config(base_path if base_path.is_file() else None, list(overrides))
    except ConfigError:
        return "multiclass"
    task = raw.get("task")
    task_type = task.get("type", "multiclass") if isinstance(task, dict) else "multiclass"
    return task_type if task_type in TASK_TYPES else "multiclass"


def rule_problems(settings: SpaceSettings, keys: Collection[str] | None = None, *,
                  tracking: bool = True) -> list[tuple[str, str]]:
    """The rules across the settings' fields (the metric's aside: it needs the task), as
    (dotted key, message): ASHA's first rung within a full trial, and with ``tracking`` a
    ``tracking.mlflow`` URI MLflow accepts. ``keys``: only the rules that read one of these
    top-level keys (None: all), for an edit (``tuning.space._edit``)."""
    def reads(*names: str) -> bool:
        return keys is None or any(name in keys for name in names)

    problems = []
    if reads("scheduler", "max_epochs") and \
            settings.scheduler.grace_period > settings.max_epochs:
        problems.append(("scheduler.grace_period", f"must be <= max_epochs "
                                                   f"({settings.max_epochs})"))
    if tracking and reads("tracking") and settings.tracking.mlflow is not None:
        from core.tracking import check_uri

        problem = check_uri(settings.tracking.mlflow)
        if problem:
            problems.append(("tracking.mlflow", problem))
    return problems


def parse_space(raw: dict, source: str, base_dir: Path, *, frozen: bool = False,
                task_type: str | None = None) -> SearchSpace:
    """Validates a parsed space file; every problem is reported with the file and key.
    ``frozen``: a sweep's frozen copy, whose base config need not exist any more (the sweep
    keeps its resolved copy). ``task_type``: the task of the config the trials start from (the
    base config after ``--set``); None: the base config file's.

    Raises:
        ConfigError: every problem of the file, each as (dotted key, message), ``source`` named.
    """
    problems: list[tuple[str, str]] = []
    # cpu: is checked on its own (tuning.space._cpu): the section the sweep applies without a GPU
    settings = build(SpaceSettings, raw, "", problems, also_known=("cpu",))
    base = settings.base_config
    base_path = Path()
    if not base and not any(k == "base_config" for k, _ in problems):
        problems.append(("base_config", "required: path of the config the search starts from "
                                        "(relative to this file)"))
    elif base:
        base_path = (base_dir / base).resolve()
        if not frozen and not base_path.is_file():
            problems.append(("base_config", f"file not found: {base_path}"))

    # The metrics the trials' task produces (the base config's own validation reports a bad
    # task.type).
    if task_type is None or task_type not in TASK_TYPES:
        task_type = base_task_type(base_path)
    settings.metric = settings.metric or default_checkpoint_metric(task_type)
    problem = metric_problem(task_type, settings.metric, settings.mode)
    if problem is not None:
        key, message = problem
        if key == "metric" and not frozen:
            message += "; set metric: in the space to one of them, or give --metric"
        problems.append((key, message))
    elif settings.mode is None:
        settings.mode = direction(task_type, settings.metric)
    problems += rule_problems(settings, tracking=not frozen)
    if "cpu" in raw:
        problems += section_problems(raw, lambda scaled: parse_space(scaled, source, base_dir,
                                                                     task_type=task_type))
    if not settings.params and not any(k == "params" for k, _ in problems):
        problems.append(("params", "expected a non-empty mapping of config keys to "
                                   "distributions"))
    params = parse_params(settings.params, problems)
    if problems:
        raise ConfigError(source, problems)
    return SearchSpace(source=source, base_config=base_path, settings=settings,
                       params=order_params(params, source), raw=raw)


def load_space(path: str | Path, overrides: Sequence[str] = (),
               metric: str | None = None) -> SearchSpace:
    """Reads and validates the space file ``path`` for its base config with ``overrides``
    (``--set KEY=VALUE``: they may change the task, and so the metrics it may select on);
    ``metric`` (``--metric``) replaces the file's metric, in its own direction.

    Raises:
        ConfigError: names the file and keys, or ``--metric`` when the task does not produce
            ``metric``.
    """
    path = Path(path)
    raw = load_yaml(path)
    base_dir = path.resolve().parent
    base = raw.get("base_config") if isinstance(raw, dict) else None
    task_type = base_task_type((base_dir / base).resolve(), overrides) \
        if isinstance(base, str) and base else None
    if metric is not None and task_type is not None:
        problem = metric_problem(task_type, metric)
        if problem is not None:
            raise ConfigError("--metric", [("", problem[1])])
        raw = {**raw, "metric": metric, "mode": direction(task_type, metric)}
    try:
        return parse_space(raw, str(path), base_dir, task_type=task_type)
    except ConfigError as exc:
        if not any(k == "metric" for k, _ in exc.problems):
            raise
        # the space's metric is checked against the task after --set: a --set of task.type
        # names the command line too (core.config's rule for the base config's problems)
        raise ConfigError(override_source(str(path), exc.problems, list(overrides),
                                          also=("task.type",)), exc.problems) from None
