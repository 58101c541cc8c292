"""Search spaces: declarative YAML, validated strictly, compiled into an Optuna define-by-run space.

A space file names the base config it starts from, the metric, the budget, the ASHA and sampler
settings, the resources, and ``params``: dotted config keys mapped to a distribution::

    params:
      optim.lr: {type: float, low: 1.0e-4, high: 3.0e-2, log: true}
      model.num_layers: {type: int, low: 1, high: 3}          # 1, 2 and 3: bounds are inclusive
      model.hidden_size: {type: categorical, choices: [64, 128, 256]}
      model.dropout: {type: float, low: 0.0, high: 0.5, when: {model.num_layers: {gt: 1}}}
      training.grad_clip_norm: 1.0                           # a plain value is fixed

``when`` makes a parameter conditional: it is sampled only when every named parameter has the given
value (``x: v``), one of the given values (``x: [a, b]``) or lies in a range (``x: {gt: 1}``);
otherwise the base config's value stays. ``compile_space`` is a pure function of the parsed params.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import ConfigError, is_config_key, load_yaml
from core.schema import build, reference_markdown, spec, to_number

__all__ = ["CPU_KEYS", "ConfirmSettings", "Param", "ResourcesSettings", "SamplerSettings",
           "SchedulerSettings", "SearchSpace", "SpaceSettings", "asha_rungs", "compile_space",
           "condition_holds", "distributions", "load_space", "misfits", "parse_space",
           "reference_markdown_space", "scaled_for_cpu"]

PARAM_TYPES = ("float", "int", "categorical", "fixed")
RANGE_OPS = {"gt": lambda v, b: v > b, "ge": lambda v, b: v >= b, "lt": lambda v, b: v < b,
             "le": lambda v, b: v <= b}


@dataclass
class SchedulerSettings:
    """``scheduler:`` ASHA's settings."""

    grace_period: int = spec(2, "ASHA: epochs every trial trains before its first rung.", ge=1)
    reduction_factor: int = spec(3, "ASHA: 1/reduction_factor of the trials at a rung go on to "
                                    "the next; rungs at grace_period * reduction_factor**k.",
                                 ge=2)


@dataclass
class SamplerSettings:
    """``sampler:`` Optuna's sampler."""

    name: str = spec("tpe", "Optuna sampler: TPE (multivariate, grouped, constant liar for "
                            "parallel trials), random, or quasi-random (Sobol).",
                     choices=("tpe", "random", "qmc"))
    seed: int = spec(0, "Sampler seed; a resumed sweep shifts it by the trials already in the "
                        "study, so it never repeats the first start's draws.")
    n_startup_trials: int = spec(8, "TPE: random trials before the model is used.", ge=0)


@dataclass
class ResourcesSettings:
    """``resources:`` what each trial asks Ray for."""

    trials_per_gpu: int = spec(1, "Trials sharing one GPU (each asks Ray for 1/trials_per_gpu "
                                  "of it; with more than 1 the sweep starts CUDA MPS).", ge=1)
    cpus_per_trial: float = spec(1.0, "CPUs Ray reserves per trial; also the trial's "
                                      "experiment.num_threads unless the base config sets it.",
                                 gt=0)


@dataclass
class ConfirmSettings:
    top_k: int = spec(0, "Confirmation: the best top_k distinct configurations of the search are "
                         "retrained at full length on fresh seeds after it, and the best mean "
                         "wins (docs/confirmation.md); 0: off (--confirm K,S overrides).", ge=0)
    seeds: int = spec(3, "Confirmation: fresh experiment.seed values per configuration (2 or "
                         "more give a 95% interval).", ge=1)
    budget_share: float = spec(0.2, "Confirmation: the part of --time-budget kept for it.",
                               gt=0, lt=1)


@dataclass
class SpaceSettings:
    """The search-space file's own keys (``params`` has a parser of its own: ``parse_space``)."""

    base_config: str = spec("", "Path of the config the search starts from, relative to the "
                                "space file (required).")
    metric: str | None = spec(None, "Metric the sweep optimises: one its base task produces; "
                                    "null: the task's default checkpoint metric.")
    mode: str | None = spec(None, "Whether the metric improves downwards or upwards; null: "
                                  "the metric's own direction (any other value is an error).",
                            choices=("min", "max"))
    num_samples: int = spec(32, "Trials in total (--num-samples overrides).", ge=1)
    max_epochs: int = spec(20, "Epochs of a full trial; ASHA stops the others earlier "
                               "(--max-epochs overrides).", ge=1)
    checkpoint_interval_s: float = spec(10.0, "Seconds between a trial's checkpoints (its last "
                                              "epoch is always saved); 0 saves every epoch. A "
                                              "killed trial resumes from its newest checkpoint, "
                                              "so this bounds the work lost.", ge=0)
    scheduler: SchedulerSettings = spec(None, "ASHA.", factory=SchedulerSettings)
    sampler: SamplerSettings = spec(None, "Optuna's sampler.", factory=SamplerSettings)
    resources: ResourcesSettings = spec(None, "Per-trial resources.", factory=ResourcesSettings)
    confirm: ConfirmSettings = spec(None, "Confirmation of the search's best configurations.",
                                    factory=ConfirmSettings)
    params: dict[str, Any] = spec(None, "Dotted config keys mapped to distributions ({type: "
                                        "float, int or categorical, ...}, optional when:) or "
                                        "fixed values (required, non-empty).", factory=dict)


def reference_markdown_space() -> str:
    """The search-space reference table (docs/config-reference.md), generated from
    ``SpaceSettings``."""
    return reference_markdown(SpaceSettings)


@dataclass(frozen=True)
class Param:
    """One entry of ``params``, parsed: a distribution to sample or a fixed value."""

    name: str  # dotted config key, e.g. "optim.lr"
    type: str  # float | int | categorical | fixed
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None
    value: Any = None
    when: tuple[tuple[str, Any], ...] = ()  # (param name, value | list | {op: bound})


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
    params: list[Param] = field(default_factory=list)
    raw: dict = field(default_factory=dict)  # the file as read: frozen into the sweep directory

    @property
    def rungs(self) -> tuple[int, ...]:
        """The epochs at which ASHA compares trials (``asha_rungs`` of this space)."""
        return asha_rungs(self.grace_period, self.reduction_factor, self.max_epochs)


def asha_rungs(grace_period: int, reduction_factor: int, max_epochs: int) -> tuple[int, ...]:
    """The epochs at which ASHA compares trials: Ray's milestones for one bracket,
    ``grace_period * reduction_factor**k`` up to ``max_epochs``.

    Example:
        >>> asha_rungs(2, 3, 20)
        (2, 6, 18)
    """
    count = int(math.log(max_epochs / grace_period) / math.log(reduction_factor) + 1)
    return tuple(grace_period * reduction_factor ** k for k in range(count))


def _parse_param(name: str, spec: Any, key: str, problems: list) -> Param | None:
    if not isinstance(spec, dict):
        if isinstance(spec, list):
            problems.append((key, "a list is ambiguous: write {type: categorical, choices: [...]}"))
            return None
        return Param(name=name, type="fixed", value=spec)
    allowed = {"type", "low", "high", "log", "step", "choices", "value", "when"}
    for k in spec:
        if k not in allowed:
            problems.append((f"{key}.{k}", f"unknown key (known: {', '.join(sorted(allowed))})"))
    ptype = spec.get("type")
    if ptype not in PARAM_TYPES:
        problems.append((f"{key}.type", f"must be one of {', '.join(PARAM_TYPES)}; got {ptype!r}"))
        return None
    when = _parse_when(spec.get("when"), f"{key}.when", problems)
    n0 = len(problems)
    if ptype in ("float", "int"):
        low, high = to_number(spec.get("low")), to_number(spec.get("high"))
        if low is None:
            problems.append((f"{key}.low", f"expected a number, got {spec.get('low')!r}"))
        if high is None:
            problems.append((f"{key}.high", f"expected a number, got {spec.get('high')!r}"))
        log = spec.get("log", False)
        if not isinstance(log, bool):
            problems.append((f"{key}.log", f"expected true or false, got {log!r}"))
        step = None
        if spec.get("step") is not None:
            step = to_number(spec["step"])
            if step is None or step <= 0:
                problems.append((f"{key}.step", f"expected a number > 0, got {spec['step']!r}"))
        for k in ("choices", "value"):
            if k in spec:
                problems.append((f"{key}.{k}", f"not used by type {ptype}"))
        if len(problems) > n0:
            return None
        if not (math.isfinite(low) and math.isfinite(high)):
            problems.append((key, "low and high must be finite"))
        elif low > high:
            problems.append((f"{key}.low", f"low ({low:g}) is greater than high ({high:g})"))
        if log and low <= 0:
            problems.append((f"{key}.low", f"log scale needs low > 0, got {low:g}"))
        if log and step is not None:
            problems.append((f"{key}.step", "step cannot be combined with log scale"))
        if ptype == "int":
            for k, v in (("low", low), ("high", high), ("step", step)):
                if v is not None and not float(v).is_integer():
                    problems.append((f"{key}.{k}", f"an int parameter needs an integer, got {v:g}"))
        if len(problems) > n0:
            return None
        if ptype == "int":
            return Param(name, "int", int(low), int(high), log, int(step) if step else None,
                         when=when)
        return Param(name, "float", low, high, log, step, when=when)
    if ptype == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            problems.append((f"{key}.choices", "expected a non-empty list"))
            return None
        if any(isinstance(c, (dict, list)) for c in choices):
            problems.append((f"{key}.choices", "choices must be plain values"))
            return None
        if len({repr(c) for c in choices}) != len(choices):
            problems.append((f"{key}.choices", "duplicate choices"))
            return None
        return Param(name, "categorical", choices=tuple(choices), when=when)
    if "value" not in spec:
        problems.append((f"{key}.value", "a fixed parameter needs a value"))
        return None
    return Param(name, "fixed", value=spec["value"], when=when)


def _parse_when(raw: Any, key: str, problems: list) -> tuple:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        problems.append((key, "expected a mapping {parameter: value | [values] | {gt: x}}"))
        return ()
    out = []
    for name, cond in raw.items():
        if isinstance(cond, dict):
            bad = [k for k in cond if k not in RANGE_OPS]
            if bad or not cond or any(to_number(v) is None for v in cond.values()):
                problems.append((f"{key}.{name}", "a range condition uses gt, ge, lt, le with "
                                                  "numbers"))
                continue
            out.append((name, {k: to_number(v) for k, v in cond.items()}))
        elif isinstance(cond, list):
            if not cond:
                problems.append((f"{key}.{name}", "an empty list matches nothing"))
                continue
            out.append((name, list(cond)))
        else:
            out.append((name, cond))
    return tuple(out)


def condition_holds(cond: Any, value: Any) -> bool:
    """Whether a sampled ``value`` satisfies one ``when`` entry."""
    if isinstance(cond, dict):
        v = to_number(value)
        return v is not None and all(RANGE_OPS[op](v, bound) for op, bound in cond.items())
    if isinstance(cond, list):
        return value in cond
    return value == cond


def _order(params: list[Param], source: str) -> list[Param]:
    """Orders params so that each comes after every parameter its condition reads."""
    by_name = {p.name: p for p in params}
    problems = []
    for p in params:
        for dep, _ in p.when:
            if dep not in by_name:
                problems.append((f"params.{p.name}.when.{dep}", "condition on an unknown "
                                 f"parameter (known: {', '.join(by_name)})"))
            elif dep == p.name:
                problems.append((f"params.{p.name}.when", "a parameter cannot depend on itself"))
    if problems:
        raise ConfigError(source, problems)
    ordered: list[Param] = []
    placed: set[str] = set()
    pending = list(params)
    while pending:
        ready = [p for p in pending if all(d in placed for d, _ in p.when)]
        if not ready:
            names = ", ".join(p.name for p in pending)
            raise ConfigError(source, [("params", f"conditions form a cycle among: {names}")])
        for p in ready:
            ordered.append(p)
            placed.add(p.name)
            pending.remove(p)
    return ordered


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
    keeps its resolved copy)."""
    problems: list[tuple[str, str]] = []
    # cpu: is checked on its own (_check_cpu): the section the sweep applies without a GPU
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

    if "cpu" in raw:
        _check_cpu(raw, source, base_dir, problems)
    params_raw = settings.params
    if not params_raw and not any(k == "params" for k, _ in problems):
        problems.append(("params", "expected a non-empty mapping of config keys to "
                                   "distributions"))
    params = []
    for name, definition in params_raw.items():
        key = f"params.{name}"
        if not is_config_key(name):
            problems.append((key, "not a config key (see docs/config-reference.md)"))
            continue
        if name == "training.epochs":
            problems.append((key, "set max_epochs instead: ASHA owns the epoch budget"))
            continue
        p = _parse_param(name, definition, key, problems)
        if p is not None:
            params.append(p)
    if problems:
        raise ConfigError(source, problems)
    space.params = _order(params, source)
    return space


def load_space(path: str | Path) -> SearchSpace:
    """Reads and validates the space file ``path``; ``ConfigError`` names the file and keys."""
    path = Path(path)
    raw = load_yaml(path)
    return parse_space(raw, str(path), path.resolve().parent)


def compile_space(params: list[Param]) -> Callable[[Any], dict[str, Any]]:
    """Returns a define-by-run function: ``fn(optuna_trial) -> {dotted key: value}``.

    Pure: the result depends only on ``params`` and the trial's suggestions. Conditional
    parameters are suggested only when their condition holds, so Optuna sees the true
    (conditional) structure of the space. Fixed values are returned without being suggested.
    """
    params = list(params)

    def define(trial) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for p in params:
            if any(dep not in values or not condition_holds(c, values[dep]) for dep, c in p.when):
                continue
            if p.type == "float":
                values[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
            elif p.type == "int":
                values[p.name] = trial.suggest_int(p.name, p.low, p.high, log=p.log,
                                                   step=p.step or 1)
            elif p.type == "categorical":
                values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            else:
                values[p.name] = p.value
        return values

    return define


def distributions(params: list[Param]) -> dict[str, Any]:
    """The Optuna distribution ``compile_space`` suggests each sampled parameter from (fixed
    parameters are not suggested)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for p in params:
        if p.type == "float":
            out[p.name] = FloatDistribution(p.low, p.high, log=p.log, step=p.step)
        elif p.type == "int":
            out[p.name] = IntDistribution(int(p.low), int(p.high), log=p.log,
                                          step=int(p.step or 1))
        elif p.type == "categorical":
            out[p.name] = CategoricalDistribution(list(p.choices))
    return out


def misfits(values: dict[str, Any], params: list[Param]) -> list[str]:
    """Why ``values`` (an earlier trial's parameters) cannot be a trial of this space: one
    reason per parameter the space does not sample or whose value it cannot draw. Empty when
    the trial fits (then ``distributions(params)`` can describe it)."""
    dists = distributions(params)
    out = []
    for name, value in values.items():
        dist = dists.get(name)
        if dist is None:
            out.append(f"{name} is not sampled by this space")
            continue
        choices = getattr(dist, "choices", None)
        if choices is not None:
            if value not in choices:
                out.append(f"{name}={value!r} is not among the choices "
                           f"{list(choices)!r}")
            continue
        inside = isinstance(value, (int, float)) and not isinstance(value, bool) and \
            dist.low <= value <= dist.high
        if inside and dist.step is not None:
            inside = math.isclose((value - dist.low) / dist.step,
                                  round((value - dist.low) / dist.step), abs_tol=1e-8)
        if not inside:
            out.append(f"{name}={value!r} is outside [{dist.low:g}, {dist.high:g}]"
                       + (f" in steps of {dist.step:g}" if dist.step is not None else ""))
    return out


# What a space's ``cpu:`` section may change when the sweep runs without a GPU.
CPU_KEYS = {"note", "num_samples", "max_epochs", "scheduler", "params", "set"}


def scaled_for_cpu(raw: dict) -> tuple[dict, list[str], list[str]]:
    """The space as it runs on a machine without a GPU: ``raw`` with its ``cpu:`` section
    applied (top-level keys replaced, ``params`` entries replaced one by one) and the section
    removed. Returns (that space, base-config overrides as ``KEY=VALUE`` from ``cpu.set``,
    one line per change, "old -> new"). Without a ``cpu:`` section: (raw, [], [])."""
    import copy

    cpu = raw.get("cpu")
    out = {k: copy.deepcopy(v) for k, v in raw.items() if k != "cpu"}
    if not isinstance(cpu, dict):
        return out, [], []
    changes = []
    for key in ("num_samples", "max_epochs", "scheduler"):
        if key in cpu:
            changes.append(f"{key} {out.get(key)!r} -> {cpu[key]!r}")
            out[key] = copy.deepcopy(cpu[key])
    for name, definition in (cpu.get("params") or {}).items():
        changes.append(f"params.{name} {_short((out.get('params') or {}).get(name))} -> "
                       f"{_short(definition)}")
        out.setdefault("params", {})[name] = copy.deepcopy(definition)
    overrides = []
    for key, value in (cpu.get("set") or {}).items():
        overrides.append(f"{key}={value}")
        changes.append(f"{key} -> {value!r}")
    return out, overrides, changes


def _check_cpu(raw: dict, source: str, base_dir: Path, problems: list) -> None:
    cpu = raw["cpu"]
    if not isinstance(cpu, dict):
        problems.append(("cpu", f"expected a mapping, got {cpu!r}"))
        return
    for k in cpu:
        if k not in CPU_KEYS:
            problems.append((f"cpu.{k}", f"unknown key (known: {', '.join(sorted(CPU_KEYS))})"))
    for k in ("params", "set"):
        if cpu.get(k) is not None and not isinstance(cpu[k], dict):
            problems.append((f"cpu.{k}", f"expected a mapping, got {cpu[k]!r}"))
    if any(key.startswith("cpu") for key, _ in problems):
        return
    for key in cpu.get("set") or {}:
        if not is_config_key(key):
            problems.append((f"cpu.set.{key}", "not a config key (see the config reference)"))
    scaled, _, _ = scaled_for_cpu(raw)
    try:
        parse_space(scaled, source, base_dir)
    except ConfigError as exc:
        # Only what the section changed; the rest of the space reports its own problems.
        changed = [k for k in ("num_samples", "max_epochs", "scheduler") if k in cpu]
        changed += [f"params.{name}" for name in cpu.get("params") or {}]
        problems.extend((f"cpu.{k}", m) for k, m in exc.problems
                        if any(k == c or k.startswith(c + ".") for c in changed))


def _short(definition: Any) -> str:
    """A parameter's distribution in a few words: its choices, its range, or its value."""
    if not isinstance(definition, dict):
        return repr(definition)
    if "choices" in definition:
        return repr(definition["choices"])
    if "low" in definition or "high" in definition:
        return f"[{definition.get('low')}, {definition.get('high')}]"
    return repr(definition.get("value", definition))


if __name__ == "__main__":
    print(reference_markdown_space(), end="")
