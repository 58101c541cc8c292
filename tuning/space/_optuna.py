"""The parsed parameters (``tuning.space.Param``) as Optuna sees them: the define-by-run
function trials sample from (``compile_space``), the distribution of each parameter, and why an
earlier trial's values do not fit a space (``misfits``, for warm starts).

``compile_space`` is a pure function of the params. Optuna is imported only by
``distributions`` and ``misfits``, when called.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from tuning.space._params import Param, condition_holds

__all__ = ["compile_space", "distributions", "misfits"]


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
