"""The declarative schema machinery behind every validated YAML file: the training config
(``core.config``) and the search space's settings (``tuning.space``).

A schema is a tree of dataclasses whose fields are declared once with ``spec(default, doc,
constraints)``. ``build`` turns a parsed YAML mapping into that tree and collects every problem
(unknown key, wrong type, value out of range) under its dotted key; ``ConfigError`` reports them
all at once as ``file: dotted.key: message`` lines. ``reference`` lists every field with its
default and documentation, for the generated references.

Example:
    >>> @dataclasses.dataclass
    ... class Budget:
    ...     epochs: int = spec(20, "Epochs of a full trial.", ge=1)
    ...     lr: float = spec(1e-3, "Peak learning rate.", gt=0)
    >>> problems = []
    >>> budget = build(Budget, {"epochs": "ten", "lr": "3e-4"}, "", problems)
    >>> budget.lr
    0.0003
    >>> print(ConfigError("space.yaml", problems))
    space.yaml: epochs: expected an integer, got 'ten'
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

__all__ = ["ConfigError", "build", "check_constraints", "coerce", "load_yaml", "parse_scalar",
           "parse_yaml_text", "reference", "reference_markdown", "spec", "to_number"]


def spec(default: Any, doc: str, *, ge=None, gt=None, le=None, lt=None, choices=None, factory=None):
    """Declares a field of a schema dataclass: its default (or ``factory`` for a mutable or
    nested one), its documentation (the generated reference shows it) and its constraints: bounds
    ``ge``, ``gt``, ``le``, ``lt`` for numbers and ``choices`` for any value."""
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _safe_load(text: str) -> Any:
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> dict:
    """Reads a YAML mapping with the safe loader; duplicate keys and non-mappings are errors."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(source, [("", "file not found")]) from None
    except OSError as exc:
        raise ConfigError(source, [("", f"cannot read: {exc.strerror}")]) from None
    return parse_yaml_text(text, source)


def parse_yaml_text(text: str, source: str) -> dict:
    """The mapping in YAML ``text`` (empty text: {}); ``ConfigError`` naming ``source`` when the
    text is not YAML or not a mapping."""
    try:
        data = _safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [("", f"invalid YAML: {exc}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(source, [("", f"expected a mapping at the top level, got "
                                        f"{type(data).__name__}")])
    return data


def parse_scalar(text: str) -> Any:
    """Parses a ``--set`` value as a YAML scalar (``3`` -> int, ``true`` -> bool, ``[1, 2]``)."""
    try:
        return _safe_load(text)
    except yaml.YAMLError:
        return text


def to_number(value: Any) -> float | None:
    """``value`` as a float when it is a number or a numeric string, else None (booleans are not
    numbers). YAML 1.1, which PyYAML speaks, reads ``1e-3`` (no dot) as a string.

    Example:
        >>> to_number("1e-3"), to_number(2), to_number(True), to_number("x")
        (0.001, 2.0, None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp, key: str, problems: list) -> Any:
    """Converts ``value`` to the annotated type ``tp`` or records a problem (returns None).

    Types: bool, int (an integral float is accepted), float (numbers and numeric strings: YAML
    1.1 reads ``1e-3`` as a string; finite only), str, ``list[T]``, ``dict[str, Any]`` (a
    free-form mapping, copied) and unions (the first type that accepts the value wins; None is
    accepted by ``T | None``). Problems are ``(key, message)`` pairs appended to ``problems``.

    Example:
        >>> problems = []
        >>> coerce("1e-3", float, "optim.lr", problems), problems
        (0.001, [])
        >>> coerce(True, int, "x", problems), problems
        (None, [('x', 'expected an integer, got True')])
    """
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        # Several types (``float | str``): the first that accepts the value wins.
        for arg in args[:-1]:
            trial: list = []
            out = coerce(value, arg, key, trial)
            if not trial:
                return out
        return coerce(value, args[-1], key, problems)
    if origin is dict:
        # A free-form mapping (model.kwargs): string keys, any YAML value; its user checks it.
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            problems.append((key, f"expected a mapping with string keys, got {value!r}"))
            return None
        return copy.deepcopy(value)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            problems.append((key, f"expected a list of {_type_name(item_tp)}, got {value!r}"))
            return None
        out = [coerce(v, item_tp, f"{key}[{i}]", problems) for i, v in enumerate(value)]
        return out
    if tp is bool:
        if isinstance(value, bool):
            return value
        problems.append((key, f"expected true or false, got {value!r}"))
        return None
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            problems.append((key, f"expected an integer, got {value!r}"))
            return None
        return value
    if tp is float:
        if isinstance(value, bool):
            problems.append((key, f"expected a number, got {value!r}"))
            return None
        number = to_number(value)
        if number is None:
            problems.append((key, f"expected a number, got {value!r}"))
            return None
        value = number
        if not math.isfinite(value):
            problems.append((key, f"expected a finite number, got {value!r}"))
            return None
        return value
    if tp is str:
        if not isinstance(value, str):
            problems.append((key, f"expected a string, got {value!r}"))
            return None
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")


def check_constraints(value: Any, meta: dict, key: str, problems: list) -> None:
    """Records a problem for each way ``value`` (or each item of a list) breaks the ``choices``
    and bounds (``ge``, ``gt``, ``le``, ``lt``) that ``spec`` declared in ``meta``."""
    if value is None:
        return
    values = value if isinstance(value, list) else [value]
    for v in values:
        if meta.get("choices") is not None and v not in meta["choices"]:
            problems.append((key, f"must be one of {', '.join(map(str, meta['choices']))}; "
                                  f"got {v!r}"))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            for op, bound, text in (("ge", meta.get("ge"), ">="), ("gt", meta.get("gt"), ">"),
                                    ("le", meta.get("le"), "<="), ("lt", meta.get("lt"), "<")):
                if bound is None:
                    continue
                ok = {"ge": v >= bound, "gt": v > bound, "le": v <= bound, "lt": v < bound}[op]
                if not ok:
                    problems.append((key, f"must be {text} {bound}, got {v!r}"))


def build(cls, raw: Any, prefix: str, problems: list, *, also_known: tuple[str, ...] = ()):
    """An instance of the ``spec``-declared dataclass ``cls`` from the mapping ``raw``: unknown
    keys, wrong types and broken constraints are recorded in ``problems`` under their dotted key
    (below ``prefix``); a value of the wrong type leaves the field at its default. Nested
    dataclass fields are built from nested mappings; None counts as an empty mapping. Callers
    raise ``ConfigError`` when ``problems`` is not empty. ``also_known``: keys of ``raw`` that
    another parser reads (a search space's ``cpu:``): skipped here, listed among the known.

    Example:
        >>> @dataclasses.dataclass
        ... class Budget:
        ...     epochs: int = spec(20, "Epochs.", ge=1)
        >>> problems = []
        >>> budget = build(Budget, {"epochs": 0, "epoch": 3}, "budget", problems)
        >>> problems
        [('budget.epoch', 'unknown key (known: epochs)'), ('budget.epochs', 'must be >= 1, got 0')]
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.append((prefix, f"expected a mapping, got {raw!r}"))
        return cls()
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields and key not in also_known:
            where = f"{prefix}.{key}" if prefix else str(key)
            known = ", ".join([*fields, *also_known])
            problems.append((where, f"unknown key (known: {known})"))
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = build(tp, raw.get(name), key, problems)
            continue
        if name not in raw:
            continue
        n_before = len(problems)
        value = coerce(raw[name], tp, key, problems)
        if len(problems) == n_before:
            check_constraints(value, f.metadata, key, problems)
            kwargs[name] = value
    return cls(**kwargs)


def reference(cls, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default as YAML, documentation) for every field of the ``spec``-declared
    dataclass ``cls``, nested sections flattened, in declaration order."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(reference(tp, key))
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
            else f.default
        doc = f.metadata.get("doc", "")
        if f.metadata.get("choices"):
            doc += f" One of: {', '.join(map(str, f.metadata['choices']))}."
        rows.append((key, yaml.safe_dump(default, default_flow_style=True).strip()
                     .removesuffix("...").strip(), doc))
    return rows


def reference_markdown(cls) -> str:
    """``reference(cls)`` as a Markdown table: key, default, meaning."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key, default, doc in reference(cls):
        lines.append(f"| `{key}` | `{default}` | {doc} |")
    return "\n".join(lines) + "\n"
