"""What a sweep checks before Tune starts, beyond each parameter's own values.

- Steps: for the base config and for every batch size the space can sample, how many optimizer
  steps an epoch and a full trial (``max_epochs``) take on the sweep's train split
  (``core.plan``). A batch size that leaves no training batch is an error naming the base
  config's ``training.batch_size`` or the space's ``params.training.batch_size``; too few steps,
  a batch larger than the split and a warmup longer than a trial are warnings.
- Pairs: two categorical parameters whose values are each valid but together make an invalid
  config (``model.name: tcn`` with ``model.bidirectional: true``). Such trials fail at once as
  FAIL with the reason and are never retried, so this is a warning that names the pair and the
  ``when:`` that avoids it.
"""

from __future__ import annotations

import itertools
from typing import Any

from core.config import ConfigError, override_source
from core.plan import plan_steps
from tuning.space import Param, SearchSpace, condition_holds, fixed_params, trial_config

__all__ = ["check_values", "preflight", "with_conditions"]

BATCH = "training.batch_size"
# With drop_last, the batch size and the split decide whether an epoch has a batch at all: a
# --set of it is named with the error like one of the batch size.
DECIDES_BATCHES = ("loader.drop_last",)


def _batch_sizes(p: Param) -> list[int]:
    if p.type == "categorical":
        return sorted({int(c) for c in p.choices if isinstance(c, int)})
    if p.type == "int":  # the extremes bound the steps per epoch
        return sorted({int(p.low), int(p.high)})
    return [int(p.value)] if isinstance(p.value, int) else []


def check_values(p: Param) -> list:
    """The values a check tries for a parameter: its bounds, its choices or its value."""
    return {"float": [p.low, p.high], "int": [p.low, p.high],
            "categorical": list(p.choices or ()), "fixed": [p.value]}[p.type]


def with_conditions(space: SearchSpace, name: str, value: Any) -> dict[str, Any] | None:
    """``{name: value}`` with what its conditions bring, as a trial drawing it has them: each
    parameter its ``when:`` reads at the first checked value that meets it (and so on up the
    chain), then every fixed parameter whose conditions hold. None when the conditions cannot
    all be met (the value is never drawn)."""
    by_name = {p.name: p for p in space.params}
    chosen = {name: value}
    pending = [by_name[name]]
    while pending:
        for dep, cond in pending.pop().when:
            if dep in chosen:
                if not condition_holds(cond, chosen[dep]):
                    return None
                continue
            meets = [v for v in check_values(by_name[dep]) if condition_holds(cond, v)]
            if not meets:
                return None
            chosen[dep] = meets[0]
            pending.append(by_name[dep])
    for p in space.params:  # dependency order: a condition's parameter is placed first
        if p.type == "fixed" and p.name not in chosen and \
                all(dep in chosen and condition_holds(cond, chosen[dep]) for dep, cond in p.when):
            chosen[p.name] = p.value
    return chosen


def preflight(space: SearchSpace, base: dict, n_train: int, base_source: str,
              overrides: list[str] | None = None) -> list[tuple[str, str]]:
    """Checks steps and pairs; returns (level, line) for the sweep log, level ``info`` or
    ``warning``.

    Raises:
        ConfigError: a batch size leaves no training batch (``base_source`` names the base
            config, ``space.source`` the space where it searches the batch size; either is
            marked "(with --set)" when one of ``overrides`` set the batch size or
            ``loader.drop_last``, which together decide it).
    """
    fixed = fixed_params(space)
    cfg = trial_config(base, fixed, space.max_epochs, base_source)
    lines = [("info", f"pre-flight: {n_train} training sequences; a full trial is "
                      f"{space.max_epochs} epochs")]
    batch_param = next((p for p in space.params if p.name == BATCH and p.type != "fixed"), None)
    if batch_param is None:
        plan = plan_steps(cfg, n_train)
        errors, warnings = plan.problems(BATCH)
        if errors:
            raise ConfigError(override_source(base_source, errors, overrides, DECIDES_BATCHES),
                              errors)
        lines.append(("info", f"  {plan.describe()}"))
        lines += [("warning", w) for w in warnings]
    else:
        errors = []
        for size in _batch_sizes(batch_param):
            plan = plan_steps(trial_config(base, {**fixed, BATCH: size}, space.max_epochs,
                                           space.source), n_train)
            found, warnings = plan.problems(f"params.{BATCH}")
            if found:
                errors += [(k, f"value {m}") for k, m in found]
                continue
            lines.append(("info", f"  {BATCH} {size}: {plan.steps_per_epoch} optimizer "
                                  f"step{'' if plan.steps_per_epoch == 1 else 's'} per epoch, "
                                  f"{plan.total_steps} per full trial"))
            lines += [("warning", w) for w in warnings]
        if errors:
            raise ConfigError(override_source(space.source, errors, overrides, DECIDES_BATCHES),
                              errors)
    warmup = next((p for p in space.params if p.name == "schedule.warmup_steps"
                   and p.type == "int"), None)
    if warmup is not None:
        sizes = _batch_sizes(batch_param) if batch_param is not None else [cfg.training.batch_size]
        shortest = min(plan_steps(cfg, n_train, batch_size=b).total_steps for b in sizes)
        if warmup.high >= shortest:
            lines.append(("warning", f"params.schedule.warmup_steps reaches {int(warmup.high)} "
                                     f"steps, but a full trial can be {shortest} steps: the "
                                     "learning rate then peaks on its last step; search "
                                     "schedule.warmup_fraction instead"))
    lines += [("warning", w) for w in _invalid_pairs(space, base, fixed)]
    return lines


def _invalid_pairs(space: SearchSpace, base: dict, fixed: dict) -> list[str]:
    categorical = [p for p in space.params if p.type == "categorical"]
    out = []
    for a, b in itertools.combinations(categorical, 2):
        for va, vb in itertools.product(a.choices, b.choices):
            if not (_can_meet(b, a.name, va) and _can_meet(a, b.name, vb)):
                continue  # a 'when:' already keeps the pair apart
            # each value with the fixed values its conditions bring (plateau's interval: epoch)
            with_a, with_b = with_conditions(space, a.name, va), with_conditions(space, b.name, vb)
            if with_a is None or with_b is None or \
                    any(with_a.get(k, v) != v for k, v in with_b.items()):
                continue
            try:
                trial_config(base, {**fixed, **with_a, **with_b}, space.max_epochs, "<pair>")
            except ConfigError as exc:
                reason = "; ".join(f"{k}: {m}" for k, m in exc.problems)
                out.append(f"{a.name}={va!r} with {b.name}={vb!r} gives an invalid config "
                           f"({reason}): such trials fail at once; a 'when:' on one of them "
                           "avoids the pair")
    return out


def _can_meet(p: Param, other: str, value: Any) -> bool:
    """Whether ``p`` can be sampled while parameter ``other`` has ``value``."""
    return all(condition_holds(cond, value) for dep, cond in p.when if dep == other)
