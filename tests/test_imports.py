"""The packages' import graph: no cycles, no private names imported across modules, and the
layering docs/architecture.md promises (export and report below the driver; the report needs
neither Ray nor torch). Every import counts, also those inside functions. (core never importing
Ray, Optuna or tuning: tests/test_static.py.)"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "tuning")


def _modules() -> dict[str, Path]:
    return {".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): f
            for pkg in PACKAGES for f in sorted((ROOT / pkg).rglob("*.py"))}


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import in the file; ``import a.b`` gives ("a.b", [])."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for m, path in MODULES.items():
        for target, names in _imports(path):
            # "from tuning import sweep" imports the module tuning.sweep.
            for dep in [target] + [f"{target}.{n}" for n in names]:
                if dep in MODULES and dep != m and dep not in PACKAGES:
                    graph[m].add(dep)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> list[str] | None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return path[path.index(n):] + [m, n] if n in path else [m, n]
            if n not in state:
                found = visit(n, path + [m])
                if found:
                    return found
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m, [])
            if found:
                return found
    return None


def test_modules_found():
    assert {"core.config", "core.loop", "tuning.sweep", "tuning.driver",
            "tuning.record._results"} <= set(MODULES)


def test_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles():
    # The check above could pass by finding nothing at all: it must see a planted cycle.
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_imported_from_another_module(module):
    private = [f"{target}.{n}" for target, names in _imports(MODULES[module])
               if target.split(".")[0] in PACKAGES + ("benchmarks",) and target != module
               for n in names if n.startswith("_") and not n.startswith("__")]
    assert not private, f"{module} imports private names: {', '.join(private)}"


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph[m]
    return seen


def test_export_and_report_depend_only_on_lower_modules():
    graph = _graph()
    for m in ("tuning.export", "tuning.report"):
        reached = _reach(graph, m)
        # Neither reaches the driver or Tune's glue.
        assert not reached & {
            "tuning.sweep",
            "tuning.driver",
            "tuning.driver._confirm_phase",
            "tuning.driver._setup",
            "tuning.driver._options",
            "tuning.execution._tuner",
            "tuning.execution._searcher",
            "tuning.execution._workers",
            "tuning.execution._resume",
            "tuning.execution._trainable",
        }, (m, sorted(reached))


@pytest.mark.parametrize("module", ["tuning.report", "tuning.export"])
def test_report_and_export_import_neither_ray_nor_torch(module):
    # A machine holding only the experiment directory can make the report or export a config
    # (the report run end to end in tests/tuning/test_report.py::test_report_runs_without_ray_or_
    # torch): the trial config is built outside the Ray glue (tuning.space._trial_config).
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('ray', 'torch') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["[]"]


def test_the_sweep_driver_starts_without_ray_tune_or_the_trainable():
    # The driver reads its options, data and study before Ray starts; Ray Tune and the
    # trainable's imports (torchmetrics) come after ray.init (tuning.execution._tuner), about
    # 2.8 s of CPU less before it (docs/performance.md, "Start-up of a sweep").
    code = ("import sys, tuning.sweep; print(sorted(m for m in ('ray.tune', 'torchmetrics', "
            "'tuning.execution._trainable', 'tuning.execution._searcher') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["[]"]


def test_every_lazy_name_of_tuning_execution_resolves():
    import tuning.execution as execution

    for name in execution.__all__:
        assert getattr(execution, name) is not None, name
    assert sorted(execution.__all__) == sorted(execution._HOMES)
