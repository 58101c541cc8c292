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

__all__ = ["Param", "SearchSpace", "load_space", "parse_space", "compile_space", "condition_holds",
           "distributions", "misfits", "CPU_KEYS", "scaled_for_cpu"]

SPACE_KEYS = {"base_config", "metric", "mode", "num_samples", "max_epochs", "cpu",
              "checkpoint_interval_s", "scheduler",
              "sampler", "resources", "params"}
PARAM_TYPES = ("float", "int", "categorical", "fixed")
RANGE_OPS = {"gt": lambda v, b: v > b, "ge": lambda v, b: v >= b, "lt": lambda v, b: v < b,
             "le": lambda v, b: v <= b}


@dataclass(frozen=True)
class Param:
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
    params: list[Param] = field(default_factory=list)
    raw: dict = field(default_factory=dict)  # the file as read: frozen into the sweep directory


def _num(v: Any) -> float | None:
    """YAML 1.1 reads 1e-3 as a string: accept numeric strings, refuse booleans."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


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
        low, high = _num(spec.get("low")), _num(spec.get("high"))
        if low is None:
            problems.append((f"{key}.low", f"expected a number, got {spec.get('low')!r}"))
        if high is None:
            problems.append((f"{key}.high", f"expected a number, got {spec.get('high')!r}"))
        log = spec.get("log", False)
        if not isinstance(log, bool):
            problems.append((f"{key}.log", f"expected true or false, got {log!r}"))
        step = None
        if spec.get("step") is not None:
            step = _num(spec["step"])
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
            if bad or not cond or any(_num(v) is None for v in cond.values()):
                problems.append((f"{key}.{name}", "a range condition uses gt, ge, lt, le with "
                                                  "numbers"))
                continue
            out.append((name, {k: _num(v) for k, v in cond.items()}))
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
        v = _num(value)
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
    for k in raw:
        if k not in SPACE_KEYS:
            problems.append((str(k), f"unknown key (known: {', '.join(sorted(SPACE_KEYS))})"))
    base = raw.get("base_config")
    if not isinstance(base, str) or not base:
        problems.append(("base_config", "required: path of the config the search starts from "
                                        "(relative to this file)"))
        base_path = Path()
    else:
        base_path = (base_dir / base).resolve()
        if not frozen and not base_path.is_file():
            problems.append(("base_config", f"file not found: {base_path}"))
    space = SearchSpace(source=source, base_config=base_path, raw=raw)

    def get(section: dict, key: str, full: str, kind: type, default, check=None, msg=""):
        v = section.get(key, default)
        if kind is float:
            num = _num(v)
            ok = num is not None and math.isfinite(num)
            v = num if ok else v
        else:
            ok = isinstance(v, kind) and not (kind is int and isinstance(v, bool))
        if not ok:
            problems.append((full, f"expected {kind.__name__}, got {v!r}"))
            return default
        if check is not None and not check(v):
            problems.append((full, f"{msg}, got {v!r}"))
            return default
        return v

    from core.tasks import TASK_TYPES, default_checkpoint_metric, metrics_for

    # The metrics the base config's task produces (its own validation reports a bad task.type).
    task_type = _base_task_type(base_path)
    task_type = task_type if task_type in TASK_TYPES else "multiclass"
    METRICS = metrics_for(task_type)  # noqa: N806
    space.metric = get(raw, "metric", "metric", str, default_checkpoint_metric(task_type),
                       lambda v: v in METRICS,
                       f"must be one of the metrics {task_type} tasks produce: "
                       f"{', '.join(METRICS)}")
    space.mode = get(raw, "mode", "mode", str, METRICS.get(space.metric, "max"),
                     lambda v: v in ("min", "max"), "must be min or max")
    if space.metric in METRICS and space.mode != METRICS[space.metric] and \
            not any(k == "mode" for k, _ in problems):
        problems.append(("mode", f"{space.metric} improves when it goes {METRICS[space.metric]}"))
    space.num_samples = get(raw, "num_samples", "num_samples", int, 32, lambda v: v >= 1,
                            "must be >= 1")
    space.max_epochs = get(raw, "max_epochs", "max_epochs", int, 20, lambda v: v >= 1,
                           "must be >= 1")
    space.checkpoint_interval_s = get(raw, "checkpoint_interval_s", "checkpoint_interval_s", float,
                                      10.0, lambda v: v >= 0, "must be >= 0")
    sections = {}
    for name, keys in (("scheduler", {"grace_period", "reduction_factor"}),
                       ("sampler", {"name", "seed", "n_startup_trials"}),
                       ("resources", {"trials_per_gpu", "cpus_per_trial"})):
        sec = raw.get(name, {}) or {}
        if not isinstance(sec, dict):
            problems.append((name, f"expected a mapping, got {sec!r}"))
            sec = {}
        for k in sec:
            if k not in keys:
                problems.append((f"{name}.{k}", f"unknown key (known: {', '.join(sorted(keys))})"))
        sections[name] = sec
    s = sections["scheduler"]
    space.grace_period = get(s, "grace_period", "scheduler.grace_period", int, 2,
                             lambda v: v >= 1, "must be >= 1")
    space.reduction_factor = get(s, "reduction_factor", "scheduler.reduction_factor", int, 3,
                                 lambda v: v >= 2, "must be >= 2")
    if space.grace_period > space.max_epochs:
        problems.append(("scheduler.grace_period", f"must be <= max_epochs ({space.max_epochs})"))
    s = sections["sampler"]
    space.sampler = get(s, "name", "sampler.name", str, "tpe",
                        lambda v: v in ("tpe", "random", "qmc"), "must be tpe, random or qmc")
    space.sampler_seed = get(s, "seed", "sampler.seed", int, 0)
    space.n_startup_trials = get(s, "n_startup_trials", "sampler.n_startup_trials", int, 8,
                                 lambda v: v >= 0, "must be >= 0")
    s = sections["resources"]
    space.trials_per_gpu = get(s, "trials_per_gpu", "resources.trials_per_gpu", int, 1,
                               lambda v: v >= 1, "must be >= 1")
    space.cpus_per_trial = get(s, "cpus_per_trial", "resources.cpus_per_trial", float, 1.0,
                               lambda v: v > 0, "must be > 0")

    if "cpu" in raw:
        _check_cpu(raw, source, base_dir, problems)
    params_raw = raw.get("params")
    if not isinstance(params_raw, dict) or not params_raw:
        problems.append(("params", "expected a non-empty mapping of config keys to "
                                   "distributions"))
        params_raw = {}
    params = []
    for name, spec in params_raw.items():
        key = f"params.{name}"
        if not is_config_key(name):
            problems.append((key, "not a config key (see the README's config reference)"))
            continue
        if name == "training.epochs":
            problems.append((key, "set max_epochs instead: ASHA owns the epoch budget"))
            continue
        p = _parse_param(name, spec, key, problems)
        if p is not None:
            params.append(p)
    if problems:
        raise ConfigError(source, problems)
    space.params = _order(params, source)
    return space


def load_space(path: str | Path) -> SearchSpace:
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
    for name, spec in (cpu.get("params") or {}).items():
        changes.append(f"params.{name} {_short((out.get('params') or {}).get(name))} -> "
                       f"{_short(spec)}")
        out.setdefault("params", {})[name] = copy.deepcopy(spec)
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


def _short(spec: Any) -> str:
    """A parameter's distribution in a few words: its choices, its range, or its value."""
    if not isinstance(spec, dict):
        return repr(spec)
    if "choices" in spec:
        return repr(spec["choices"])
    if "low" in spec or "high" in spec:
        return f"[{spec.get('low')}, {spec.get('high')}]"
    return repr(spec.get("value", spec))
