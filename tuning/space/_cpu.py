"""A search space's ``cpu:`` section: what the sweep changes when it runs without a GPU.

::

    cpu:                                   # search_spaces/gru.yaml's
      num_samples: 20
      max_epochs: 15
      params:
        model.hidden_size: {type: categorical, choices: [32, 64, 128]}
      set:
        data.synthetic.num_samples: 4000

``scaled_for_cpu`` applies the section (top-level keys replaced, ``params`` entries replaced one
by one, ``set`` as base-config overrides); ``section_problems`` validates it for
``tuning.space.parse_space``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection
from typing import Any

from core.config import ConfigError, is_config_key
from tuning.space._params import short_definition

__all__ = ["CPU_KEYS", "scaled_for_cpu", "section_problems"]

# What a space's ``cpu:`` section may change when the sweep runs without a GPU.
CPU_KEYS = {"note", "num_samples", "max_epochs", "scheduler", "params", "set"}
_REPLACED = ("num_samples", "max_epochs", "scheduler")  # top-level keys replaced whole


def scaled_for_cpu(raw: dict, keep: Collection[str] = ()) -> tuple[dict, list[str], list[str]]:
    """The space as it runs on a machine without a GPU: ``raw`` with its ``cpu:`` section
    applied (top-level keys replaced, ``params`` entries replaced one by one) and the section
    removed. ``keep``: top-level keys (``num_samples``), ``params.<name>`` and config keys the
    section leaves alone because the command line sets them (or, for ``data.synthetic.*``, the
    data are not synthetic). Returns (that space, base-config overrides as ``KEY=VALUE`` from
    ``cpu.set``, one line per change made, "old -> new"). Without a ``cpu:`` section:
    (raw, [], [])."""
    cpu = raw.get("cpu")
    out = {k: copy.deepcopy(v) for k, v in raw.items() if k != "cpu"}
    if not isinstance(cpu, dict):
        return out, [], []
    changes = []
    for key in _REPLACED:
        if key in cpu and key not in keep:
            changes.append(f"{key} {out.get(key)!r} -> {cpu[key]!r}")
            out[key] = copy.deepcopy(cpu[key])
    for name, definition in (cpu.get("params") or {}).items():
        if f"params.{name}" in keep:
            continue
        changes.append(f"params.{name} {short_definition((out.get('params') or {}).get(name))} -> "
                       f"{short_definition(definition)}")
        out.setdefault("params", {})[name] = copy.deepcopy(definition)
    overrides = []
    for key, value in (cpu.get("set") or {}).items():
        if key in keep:
            continue
        overrides.append(f"{key}={value}")
        changes.append(f"{key} -> {value!r}")
    return out, overrides, changes


def section_problems(raw: dict, parse: Callable[[dict], Any]) -> list[tuple[str, str]]:
    """What is wrong with the ``cpu:`` section of the space file ``raw``, as (``cpu.<key>``,
    message): its shape (a mapping of ``CPU_KEYS``; ``params`` and ``set`` mappings, ``set``'s
    keys config keys), then the problems ``parse`` finds in the scaled space under the keys the
    section changes, named ``cpu.<key>`` (the rest of the space reports its own problems).

    ``parse`` validates a whole space mapping and raises ``ConfigError`` (``tuning.space``
    passes ``parse_space`` with the file's name and folder).
    """
    cpu = raw["cpu"]
    if not isinstance(cpu, dict):
        return [("cpu", f"expected a mapping, got {cpu!r}")]
    problems = [(f"cpu.{k}", f"unknown key (known: {', '.join(sorted(CPU_KEYS))})")
                for k in cpu if k not in CPU_KEYS]
    problems += [(f"cpu.{k}", f"expected a mapping, got {cpu[k]!r}") for k in ("params", "set")
                 if cpu.get(k) is not None and not isinstance(cpu[k], dict)]
    if problems:
        return problems
    problems = [(f"cpu.set.{key}", "not a config key (see the config reference)")
                for key in cpu.get("set") or {} if not is_config_key(key)]
    try:
        parse(scaled_for_cpu(raw)[0])
    except ConfigError as exc:
        changed = [k for k in _REPLACED if k in cpu]
        changed += [f"params.{name}" for name in cpu.get("params") or {}]
        problems += [(f"cpu.{k}", m) for k, m in exc.problems
                     if any(k == c or k.startswith(c + ".") for c in changed)]
    return problems
