"""Static checks over the source: no unsafe loads, no shell, and core/ free of ray and optuna."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for d in ("core", "tuning", "benchmarks") for p in (ROOT / d).rglob("*.py"))
FORBIDDEN = {
    r"weights_only\s*=\s*False": "torch.load must use weights_only=True",
    r"yaml\.(unsafe_)?load\(": "use the safe loader in core.config",
    r"Loader\s*=\s*yaml\.(Unsafe|Full)?Loader\b": "unsafe YAML loader",
    r"shell\s*=\s*True": "no shell=True",
    r"pickle\.loads?\(": "no pickle loads",
}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_unsafe_calls(path):
    text = path.read_text()
    for pattern, why in FORBIDDEN.items():
        assert not re.search(pattern, text), f"{path}: {why}"


@pytest.mark.parametrize("path", sorted((ROOT / "core").rglob("*.py")),
                         ids=lambda p: p.name)
def test_core_never_imports_ray_or_optuna(path):
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        assert not any(n.split(".")[0] in ("ray", "optuna", "tuning") for n in names), path


def test_sources_found():
    assert len(SOURCES) > 10
