"""The ``params:`` section of a search space: each entry parsed into a ``Param``, conditions
checked, and the parameters put in dependency order.

::

    params:
      optim.lr: {type: float, low: 1.0e-4, high: 3.0e-2, log: true}
      model.num_layers: {type: int, low: 1, high: 3}          # 1, 2 and 3: bounds are inclusive
      model.hidden_size: {type: categorical, choices: [64, 128, 256]}
      model.dropout: {type: float, low: 0.0, high: 0.5, when: {model.num_layers: {gt: 1}}}
      training.grad_clip_norm: 1.0                           # a plain value is fixed

``when`` makes a parameter conditional: it is sampled only when every named parameter has the given
value (``x: v``), one of the given values (``x: [a, b]``) or lies in a range (``x: {gt: 1}``);
otherwise the base config's value stays (``condition_holds``). Optuna sees these parameters
through ``tuning.space._optuna``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from core.config import ConfigError, is_config_key
from core.schema import to_number

__all__ = ["PARAM_TYPES", "Param", "condition_holds", "order_params", "parse_params",
           "short_definition"]

PARAM_TYPES = ("float", "int", "categorical", "fixed")
RANGE_OPS = {"gt": lambda v, b: v > b, "ge": lambda v, b: v >= b, "lt": lambda v, b: v < b,
             "le": lambda v, b: v <= b}


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


def parse_params(raw: dict[str, Any], problems: list[tuple[str, str]]) -> list[Param]:
    """The entries of ``params`` (dotted config key -> distribution or fixed value) parsed, in
    file order; each problem is appended to ``problems`` as (``params.<key>...``, message), and
    an entry with a problem is left out. Conditions on unknown parameters and cycles are
    ``order_params``'s to report."""
    out = []
    for name, definition in raw.items():
        key = f"params.{name}"
        if not is_config_key(name):
            problems.append((key, "not a config key (see docs/config-reference.md)"))
            continue
        if name == "training.epochs":
            problems.append((key, "set max_epochs instead: ASHA owns the epoch budget"))
            continue
        p = _parse_param(name, definition, key, problems)
        if p is not None:
            out.append(p)
    return out


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
    if ptype in ("float", "int"):
        return _parse_range(name, ptype, spec, key, when, problems)
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


def _parse_range(name: str, ptype: str, spec: dict, key: str, when: tuple,
                 problems: list) -> Param | None:
    """A float or int parameter: low, high, log, step."""
    n0 = len(problems)
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
    """Whether a sampled ``value`` satisfies one ``when`` entry.

    Example:
        >>> condition_holds({"gt": 1}, 2), condition_holds(["a", "b"], "c")
        (True, False)
    """
    if isinstance(cond, dict):
        v = to_number(value)
        return v is not None and all(RANGE_OPS[op](v, bound) for op, bound in cond.items())
    if isinstance(cond, list):
        return value in cond
    return value == cond


def order_params(params: list[Param], source: str) -> list[Param]:
    """``params`` ordered so that each comes after every parameter its condition reads.

    Raises:
        ConfigError: a condition names an unknown parameter or the parameter itself, or the
            conditions form a cycle (``source`` and ``params.<key>.when`` named).
    """
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


def short_definition(definition: Any) -> str:
    """A parameter's entry of ``params`` as written (a mapping or a plain value) in a few words:
    its choices, its range, or its value.

    Example:
        >>> short_definition({"type": "categorical", "choices": [64, 128]}), short_definition(0.1)
        ('[64, 128]', '0.1')
    """
    if not isinstance(definition, dict):
        return repr(definition)
    if "choices" in definition:
        return repr(definition["choices"])
    if "low" in definition or "high" in definition:
        return f"[{definition.get('low')}, {definition.get('high')}]"
    return repr(definition.get("value", definition))

