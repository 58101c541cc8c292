"""core.schema: the declarative schema behind the config and the space's settings, on a schema
of its own (the config's use of it: test_config.py, test_config_load.py)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from core.schema import (
    ConfigError,
    build,
    check_constraints,
    coerce,
    load_yaml,
    parse_scalar,
    parse_yaml_text,
    reference,
    reference_markdown,
    spec,
)


@dataclasses.dataclass
class Inner:
    rate: float = spec(0.5, "A rate.", gt=0, lt=1)


@dataclasses.dataclass
class Outer:
    name: str = spec("gru", "A name.", choices=("gru", "lstm"))
    sizes: list[int] = spec(None, "Sizes.", factory=lambda: [8], ge=1)
    extra: dict[str, Any] | None = spec(None, "Free-form.")
    inner: Inner = spec(None, "A section.", factory=Inner)


@pytest.mark.parametrize("value,tp,expected", [
    ("1e-3", float, 0.001), (2, float, 2.0), (3.0, int, 3), ("x", str | None, "x"),
    (None, int | None, None), ([1, 2.0], list[int], [1, 2]), (4, float | str, 4.0),
    ("auto", float | str, "auto"), (False, bool, False)])
def test_coerce_accepts(value, tp, expected):
    problems = []
    assert coerce(value, tp, "k", problems) == expected and problems == []


@pytest.mark.parametrize("value,tp,message", [
    (True, int, "expected an integer"), (2.5, int, "expected an integer"),
    (True, float, "expected a number"), (math.inf, float, "expected a finite number"),
    ("yes", bool, "expected true or false"), (3, str, "expected a string"),
    ("1", list[int], "expected a list of int"), ({1: 2}, dict[str, Any], "string keys")])
def test_coerce_refuses_naming_the_key(value, tp, message):
    problems = []
    assert coerce(value, tp, "a.b", problems) is None
    assert problems[0][0] == "a.b" and message in problems[0][1]


def test_coerce_names_the_list_item():
    problems = []
    coerce([1, "x"], list[int], "sizes", problems)
    assert problems == [("sizes[1]", "expected an integer, got 'x'")]


def test_constraints_check_choices_bounds_and_every_list_item():
    problems = []
    check_constraints("tcn", {"choices": ("gru",)}, "name", problems)
    check_constraints([2, 0], {"ge": 1}, "sizes", problems)
    check_constraints(1.0, {"gt": 0, "lt": 1}, "rate", problems)
    check_constraints(None, {"ge": 1}, "unset", problems)
    assert problems == [("name", "must be one of gru; got 'tcn'"),
                        ("sizes", "must be >= 1, got 0"), ("rate", "must be < 1, got 1.0")]


def test_build_collects_every_problem_under_its_dotted_key_and_keeps_defaults():
    problems = []
    build(Outer, {"name": "tcn", "sizes": [0], "inner": {"rate": 2, "typo": 1}, "other": 1},
          "model", problems)
    assert sorted(problems) == sorted([
        ("model.other", "unknown key (known: name, sizes, extra, inner)"),
        ("model.name", "must be one of gru, lstm; got 'tcn'"),
        ("model.sizes", "must be >= 1, got 0"),
        ("model.inner.typo", "unknown key (known: rate)"),
        ("model.inner.rate", "must be < 1, got 2.0")])
    ok = build(Outer, {"extra": {"a": [1]}, "inner": None}, "", problems := [])
    assert problems == [] and ok.extra == {"a": [1]} and ok.inner.rate == 0.5
    assert ok.sizes == [8] and build(Outer, {}, "", []).sizes is not ok.sizes  # fresh default
    build(Outer, [1], "model", problems)
    assert problems == [("model", "expected a mapping, got [1]")]


def test_yaml_refuses_duplicate_keys_and_non_mappings(tmp_path):
    with pytest.raises(ConfigError, match="duplicate key 'a'"):
        parse_yaml_text("a: 1\nb: 2\na: 3\n", "x.yaml")
    with pytest.raises(ConfigError, match="x.yaml: expected a mapping at the top level, got list"):
        parse_yaml_text("- 1\n", "x.yaml")
    assert parse_yaml_text("", "x.yaml") == {}
    with pytest.raises(ConfigError, match="file not found"):
        load_yaml(tmp_path / "missing.yaml")
    assert parse_scalar("3") == 3 and parse_scalar("[1, 2]") == [1, 2]
    assert parse_scalar("true") is True and parse_scalar("a: [") == "a: ["


def test_reference_lists_every_field_with_its_default_and_choices():
    rows = reference(Outer)
    assert [key for key, _, _ in rows] == ["name", "sizes", "extra", "inner.rate"]
    assert rows[0] == ("name", "gru", "A name. One of: gru, lstm.")
    assert rows[1][1] == "[8]" and rows[2][1] == "null"
    assert reference_markdown(Outer).splitlines()[2] == \
        "| `name` | `gru` | A name. One of: gru, lstm. |"
