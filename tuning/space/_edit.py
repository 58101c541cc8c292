"""A parsed space edited: the sweep's changes (its flags, the ``cpu:`` section, ``--smoke``, the
parameters ``--set`` pins, the sizes derived from the data) applied to a ``SearchSpace``
without parsing its file again.

The sweep makes its changes in the file's form, on a copy of ``space.raw`` (that form is what
``sweep.yaml`` freezes); ``edited`` then rebuilds only what differs, each new value checked
under its dotted key by the same rules as the file's (``core.schema.build``,
``tuning.space._params``, ``rule_problems``, the conditions' order). The keys left alone were
validated when the file was parsed and are not checked again; the result is the space
``parse_space`` would give for the edited file.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

from core.config import ConfigError
from core.schema import build
from tuning.space._params import order_params, parse_params
from tuning.space._parse import SearchSpace, rule_problems
from tuning.space._settings import SpaceSettings

__all__ = ["edited"]

# Read with the file (load_space: the base config's task decides the metric and its
# direction); an edit may only freeze the base config's resolved path.
_READ_WITH_THE_FILE = ("base_config", "metric", "mode")


def edited(space: SearchSpace, raw: dict) -> SearchSpace:
    """``space`` as its edited file form ``raw`` (a changed copy of ``space.raw``) says: top-level
    keys set, replaced (a section whole) or removed (back to the default), ``params`` entries
    replaced, added or removed, and the ``cpu:`` section dropped. Only what differs from
    ``space.raw`` is checked and rebuilt.

    Raises:
        ConfigError: a changed value breaks its key's rules (``space.source`` and the dotted
            key named, as the file's own problems are).
        ValueError: the edit changes ``metric``, ``mode`` or ``base_config`` (they are read
            with the file: ``load_space``), or adds a ``cpu:`` section.
    """
    old = space.raw
    changed = [k for k in dict.fromkeys([*old, *raw]) if old.get(k) != raw.get(k)]
    if "cpu" in raw and "cpu" in changed:
        raise ValueError("an edit drops the cpu: section or leaves it; it cannot change it")
    for key in _READ_WITH_THE_FILE:
        if key in changed and not (key == "base_config"
                                   and Path(str(raw.get(key))) == space.base_config):
            raise ValueError(f"{key} is read with the space file (load_space); an edit cannot "
                             "change it")
    keys = [k for k in changed if k not in ("cpu", "params")]
    problems: list[tuple[str, str]] = []
    fresh = build(SpaceSettings, {k: raw[k] for k in keys if k in raw}, "", problems)
    known = {f.name for f in dataclasses.fields(SpaceSettings)}
    settings = copy.deepcopy(space.settings)
    for key in keys:
        if key in known:
            setattr(settings, key, getattr(fresh, key))
    params = space.params
    if "params" in changed:
        settings.params, params = _edited_params(space, raw.get("params"), problems)
    problems += rule_problems(settings, changed)
    if problems:
        raise ConfigError(space.source, problems)
    return SearchSpace(source=space.source, base_config=space.base_config, settings=settings,
                       params=order_params(params, space.source), raw=copy.deepcopy(raw))


def _edited_params(space: SearchSpace, entries, problems: list) -> tuple[dict, list]:
    """The edited ``params`` mapping (as the settings keep it) and its ``Param``s in the
    mapping's order: the entries that differ parsed, the others as they were."""
    if not isinstance(entries, dict) or not entries:
        problems.append(("params", "expected a non-empty mapping of config keys to "
                                   "distributions"))
        return {}, []
    before = space.raw.get("params") or {}
    new = [name for name in entries if name not in before or before[name] != entries[name]]
    parsed = {p.name: p for p in parse_params({n: entries[n] for n in new}, problems)}
    kept = {p.name: p for p in space.params}
    return copy.deepcopy(entries), [parsed[n] if n in new else kept[n] for n in entries
                                    if n in parsed or n not in new]
