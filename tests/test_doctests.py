"""Every ``Example:`` block in core/ and tuning/ runs as a doctest, so the examples stay true."""

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                 for pkg in ("core", "tuning") for p in (ROOT / pkg).rglob("*.py")
                 if ">>>" in p.read_text())


def test_examples_found():
    assert {"core.schema", "tuning.record._results"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, f"{name}: {result}"
