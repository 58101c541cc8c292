"""Codemod of issue 25: ``tuning/`` from one flat folder into packages by layer.

    python tools/restructure_tuning.py            # apply: git mv, rewrites, ruff's import sort
    python tools/restructure_tuning.py --dry-run  # print what it would move and rewrite
    python tools/restructure_tuning.py --check    # exit 1 while anything is left to do

Run it from the repository root of a clean checkout, after every branch that touches ``tuning/``
has merged; commit the result. It is idempotent: a second run moves nothing and rewrites nothing.

What it does:

1. ``git mv``: each module of ``MOVES`` to its package as a private module
   (``tuning/space_params.py`` -> ``tuning/space/_params.py``), its test module to the mirror
   (``tests/tuning/test_space_params.py`` -> ``tests/tuning/space/test_params.py``; a moved test's
   ``Path(__file__).resolve().parents[N]`` becomes ``parents[N + 1]``).
2. Writes each package's ``__init__.py``: a docstring, the public names of its modules (each
   module's ``__all__``, imported from the module that defines it) and ``__all__``; and
   ``tuning/space/__main__.py`` (``python -m tuning.space`` prints the settings' reference).
3. Rewrites every reference in core/, tuning/, tests/, benchmarks/, tools/, docs/, README.md and
   the Makefile: ``from tuning.OLD import names`` -> ``from tuning.PKG import names`` (inside the
   package: from the defining private module; a name no ``__all__`` exports: from the private
   module, listed at the end); ``from tuning import OLD`` and ``import tuning.OLD`` -> ``import
   tuning.PKG._new as OLD``; dotted names in code, strings, docstrings and docs (``tuning.OLD``
   -> ``tuning.PKG._new``; ``tuning.OLD.x`` -> ``tuning.PKG.x`` for a name the package exports,
   else ``tuning.PKG._new.x``); file paths ``tuning/OLD.py`` and ``tests/tuning/test_OLD.py``.
4. README's layout and docs/architecture.md's module map (their tuning/ blocks) and dependency
   order (generated from the import graph of tests/test_imports.py).

Modules it does not know (added by other branches) stay where they are; their imports of moved
modules are rewritten like any other. The commands keep their names: ``python -m tuning.sweep``,
``tuning.export``, ``tuning.report`` (top-level modules) and ``tuning.space`` (package).
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

# old module (tuning/<old>.py) -> (package, private module in it)
MOVES: dict[str, tuple[str, str]] = {
    # the search space: the file's keys, params:, cpu:, Optuna's define-by-run, the parser, and
    # the rule that applies sampled values to the base config
    "space_settings": ("space", "_settings"),
    "space_params": ("space", "_params"),
    "space_cpu": ("space", "_cpu"),
    "space_optuna": ("space", "_optuna"),
    "space": ("space", "_parse"),
    "trial_config": ("space", "_trial_config"),
    # the experiment record: its directory and files, trial results (no Optuna: ``import tuning``
    # reads sweeps without it)
    "trial_store": ("record", "_trial_store"),
    "experiment": ("record", "_directory"),
    "tensorboard": ("record", "_tensorboard"),
    "results": ("record", "_results"),
    # the Optuna study: storage, the sampler that learns from failures, opening and loading
    "optuna_internals": ("study", "_optuna_internals"),
    "storage": ("study", "_storage"),
    "failures": ("study", "_sampler"),
    "study": ("study", "_open"),
    # one Tune run: the Ray glue
    "fault_injection": ("execution", "_fault_injection"),
    "workers": ("execution", "_workers"),
    "searcher": ("execution", "_searcher"),
    "trainable": ("execution", "_trainable"),
    "progress": ("execution", "_progress"),
    "tune_loggers": ("execution", "_tune_loggers"),
    "resume": ("execution", "_resume"),
    "tuner": ("execution", "_tuner"),
    # the sweep driven: options, set-up checks, pre-flight, the search and confirmation phases
    "sweep_options": ("driver", "_options"),
    "preflight": ("driver", "_preflight"),
    "sweep_setup": ("driver", "_setup"),
    "confirm_phase": ("driver", "_confirm_phase"),
    "driver": ("driver", "_drive"),
}
# Stay at the top of tuning/: the commands (sweep, export, report), the Python API, the
# confirmation's rules and files (confirm: below the driver, above the record) and the exceptions.

PACKAGE_DOCS = {
    "space": '''"""The search space: a space file read and validated into a ``SearchSpace``.

Its keys are declared once (``SpaceSettings``, ``_settings``); ``params:`` is parsed into ``Param``s
with ``when:`` conditions (``_params``); the ``cpu:`` section scales a space down for a machine
without a GPU (``_cpu``); ``compile_space`` turns the parameters into an Optuna define-by-run
function (``_optuna``); ``parse_space``/``load_space`` read a file, and ``asha_rungs`` gives
ASHA's rungs (``_parse``); ``trial_config`` applies a trial's sampled values to the base config
(``_trial_config``: no torch, no Ray). ``python -m tuning.space`` prints the settings' reference.
"""''',
    "record": '''"""The experiment record: a sweep's directory and the files it holds.

File names, the frozen spec and the lock (``_directory``); where trials live, a folder or an
object store (``_trial_store``); the one reader of trial results, trials.csv and the event files
(``_results``, ``_tensorboard``). Nothing here imports Optuna, Ray or torch.
"""''',
    "study": '''"""The sweep's Optuna study: the ledger of its trials.

Its storage, a copy in memory written to SQLite by a thread (``_storage``); the TPE sampler that
learns from failed trials (``_sampler``); opening (the driver), loading (the readers) and warm
start (``_open``); every use of Optuna's private API (``_optuna_internals``). No Ray, no torch.
"""''',
    "execution": '''"""One Tune run of the trials: the glue of Tune, Optuna and ``core.loop.fit``.

``run_trials`` (``_tuner``) starts Ray and runs the trials of ``train_trial`` (``_trainable``) with
the ``StudySearcher`` that keeps the study truthful (``_searcher``); ``reconcile`` (``_resume``)
matches an interrupted sweep's study with the disk first. Worker processes (``_workers``), the
progress line (``_progress``), Tune's TensorBoard logger (``_tune_loggers``) and the test faults
(``_fault_injection``) complete it.
"""''',
    "driver": '''"""The sweep driven from its options to its files: ``drive(SweepOptions)``.

The options, typed (``_options``); everything read and checked before anything is written
(``_setup``, with the pre-flight of ``_preflight``); the search and the confirmation phase
(``_confirm_phase``) driven, the best config exported and the ledger kept (``_drive``).
"""''',
}

README_BLOCK = """tuning/      the sweep
  space/       search-space YAML -> SearchSpace: its keys, params:, cpu:, Optuna define-by-run,
               ASHA's rungs; trial_config (base config + sampled values); python -m tuning.space
  record/      the experiment directory and trial files, the one reader of trial results, events
  study/       the Optuna study: its storage, a sampler that learns from failures, warm start
  execution/   one Tune run: tuner, trainable, the searcher that keeps the study truthful,
               resume, worker processes, progress line, Tune's logger, test faults
  driver/      a sweep's options, checks and pre-flight; search and confirmation driven
  confirm.py  errors.py   the confirmation's candidates, seeds and intervals; the exceptions
  sweep.py  export.py  report.py  api.py      the three commands; run_sweep, load_sweep
"""

ARCHITECTURE_BLOCK = """tuning/
  errors.py         SweepError, StudyWriteError (the raisers re-export them)
  space/            the search space (the package re-exports its modules' public names)
    _settings.py      the space file's own keys (SpaceSettings, declared with spec); its reference
    _params.py        the params: section parsed into Params; when: conditions, dependency order
    _cpu.py           the cpu: section: the space scaled down for a machine without a GPU
    _optuna.py        compile_space (params -> Optuna define-by-run), distributions, misfits
    _parse.py         a space file read and validated into a SearchSpace; ASHA's rungs
    _trial_config.py  trial_config: base config + sampled values -> a trial's Config (no torch)
    __main__.py       python -m tuning.space: the settings' reference
  record/           the experiment record (no Optuna, no Ray, no torch)
    _trial_store.py   where trials live: a local folder or an object-store URI (pyarrow)
    _directory.py     the experiment directory: every file name, frozen spec, lock, trial store
    _results.py       the one reader of trial results: per-epoch histories (batched reports
                      expanded), checkpoints, trials.csv rows
    _tensorboard.py   every epoch of every trial as TensorBoard event files
  study/            the Optuna study (no Ray, no torch)
    _optuna_internals.py  every use of Optuna's private API, tested against the installed Optuna
    _storage.py       the study's storage: a copy in memory, SQLite written by a thread
    _sampler.py       the TPE sampler that learns from invalid-config and NaN failures
    _open.py          opening (driver) and loading (readers) the study, sampler, warm start
  confirm.py        the confirmation phase's rules: candidates, fresh seeds, intervals,
                    confirmation.json/csv (its runs are driven by driver/_confirm_phase.py)
  execution/        one Tune run (Ray)
    _fault_injection.py  the test faults of SEQTUNE_FAULTS (raise, kill, hold, nan, inf, lucky)
    _workers.py       Ray worker processes: bytecode cache, preloaded imports, MPS daemon
    _searcher.py      StudySearcher: Ray Tune searcher that keeps the study truthful
    _trainable.py     the Ray Tune function trainable (thin glue over core.loop.fit)
    _progress.py      the progress line every 15 s (trials done, epochs trained, time left)
    _tune_loggers.py  Tune's TensorBoard logger for the reported epochs (no earlier_epochs list)
    _resume.py        reconcile an interrupted sweep's study with the disk
    _tuner.py         one run of the trials on Ray Tune: ray.init, resources, ASHA, Tuner
  export.py         python -m tuning.export: a trial as a standalone config
  report.py         python -m tuning.report: table and self-contained HTML (no Ray, no torch)
  driver/           the sweep driven
    _options.py       SweepOptions: the sweep's options, typed (one field per flag)
    _preflight.py     what a sweep checks before Tune starts: steps per epoch, invalid pairs
    _setup.py         everything read and checked before anything is written (frozen spec,
                      parameters against the config, data, model probe, pre-flight), then the
                      directory made
    _confirm_phase.py the confirmation phase driven: plan, reconcile, Tune run, its files
    _drive.py         drive(SweepOptions): lock, search, confirmation, best config, ledger, exit
  sweep.py          python -m tuning.sweep: the command line over the driver
  api.py            run_sweep(...), load_sweep(...): the Python API of a sweep
"""

TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".yaml", ".yml", ".cfg", ".ini"}
SCAN_DIRS = ("core", "tuning", "tests", "benchmarks", "tools", "docs")
SCAN_FILES = ("README.md", "Makefile", "pyproject.toml")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout


def new_path(root: Path, old: str) -> Path:
    pkg, mod = MOVES[old]
    return root / "tuning" / pkg / f"{mod}.py"


def old_path(root: Path, old: str) -> Path:
    return root / "tuning" / f"{old}.py"


def current_path(root: Path, old: str) -> Path | None:
    for p in (new_path(root, old), old_path(root, old)):
        if p.is_file():
            return p
    return None


def test_paths(old: str) -> tuple[str, str]:
    pkg, mod = MOVES[old]
    return f"tests/tuning/test_{old}.py", f"tests/tuning/{pkg}/test_{mod.lstrip('_')}.py"


# ---------------------------------------------------------------------------------------------
# What each module exports and defines

def module_all(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AugAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = node.value
            if isinstance(value, (ast.List, ast.Tuple)):
                names += [e.value for e in value.elts if isinstance(e, ast.Constant)]
    return names


def module_defines(path: Path) -> set[str]:
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        out.add(n.id)
    return out


class Exports:
    """Per package: public name -> the old module that defines it (its home after the move)."""

    def __init__(self, root: Path):
        self.home: dict[str, dict[str, str]] = {}  # pkg -> name -> old module
        self.private: dict[str, set[str]] = {}  # old module -> every top-level name it defines
        problems = []
        for old in list(MOVES):
            path = current_path(root, old)
            if path is None:  # not on this branch (yet): nothing to move, nothing to rewrite
                print(f"warning: tuning/{old}.py: missing; left out of the moves")
                del MOVES[old]
                continue
            self.private[old] = module_defines(path)
        for old, (pkg, _) in MOVES.items():
            path = current_path(root, old)
            if path is None:
                continue
            homes = self.home.setdefault(pkg, {})
            for name in module_all(path):
                definer = old if name in self.private[old] else next(
                    (o for o, (p, _) in MOVES.items() if p == pkg and o in self.private
                     and name in self.private[o] and name in module_all(current_path(root, o))),
                    old)
                if name in homes and homes[name] != definer:
                    problems.append(f"{pkg}: {name} exported by tuning/{homes[name]}.py and "
                                    f"tuning/{definer}.py")
                homes.setdefault(name, definer)
        if problems:
            raise SystemExit("restructure_tuning: cannot go on:\n  " + "\n  ".join(problems))

    def public(self, name: str) -> tuple[str, str] | None:
        """(package, old module) of a public name, or None."""
        for pkg, homes in self.home.items():
            if name in homes:
                return pkg, homes[name]
        return None


# ---------------------------------------------------------------------------------------------
# Moves and generated files

def one_level_deeper(path: Path, warnings: list[str]) -> None:
    """A file moved one folder down: ``Path(__file__).resolve().parents[N]`` -> ``[N + 1]``;
    any other use of ``__file__`` is listed for a look by hand."""
    text = path.read_text()
    text = re.sub(r"(Path\(__file__\)\.resolve\(\)\.parents\[)(\d+)(\])",
                  lambda m: f"{m[1]}{int(m[2]) + 1}{m[3]}", text)
    path.write_text(text)
    for n, line in enumerate(text.splitlines(), 1):
        if "__file__" in line and not re.search(r"Path\(__file__\)\.resolve\(\)\.parents\[",
                                                line):
            warnings.append(f"{path}:{n}: moved one folder down; check this use of __file__")


def move(root: Path, dry: bool, log: list[str], warnings: list[str]) -> None:
    for old in MOVES:
        src, dst = old_path(root, old), new_path(root, old)
        if src.is_file() and not dst.exists():
            log.append(f"git mv {src.relative_to(root)} {dst.relative_to(root)}")
            if not dry:
                dst.parent.mkdir(parents=True, exist_ok=True)
                git(root, "mv", str(src), str(dst))
                one_level_deeper(dst, warnings)
        t_src, t_dst = (root / p for p in test_paths(old))
        if t_src.is_file() and not t_dst.exists():
            log.append(f"git mv {t_src.relative_to(root)} {t_dst.relative_to(root)}")
            if not dry:
                t_dst.parent.mkdir(parents=True, exist_ok=True)
                init = t_dst.parent / "__init__.py"
                if not init.exists():
                    init.write_text("")
                    git(root, "add", str(init))
                git(root, "mv", str(t_src), str(t_dst))
                one_level_deeper(t_dst, warnings)


def write_packages(root: Path, exports: Exports, dry: bool, log: list[str]) -> None:
    for pkg in dict.fromkeys(p for p, _ in MOVES.values()):
        lines = [PACKAGE_DOCS[pkg], ""]
        by_module: dict[str, list[str]] = {}
        for name, old in exports.home.get(pkg, {}).items():
            by_module.setdefault(MOVES[old][1], []).append(name)
        for mod in sorted(by_module):
            names = sorted(by_module[mod])
            lines.append(format_from(f"tuning.{pkg}.{mod}", [(n, None) for n in names], ""))
        every = sorted(n for names in by_module.values() for n in names)
        lines += ["", format_all(every)]
        text = "\n".join(lines) + "\n"
        path = root / "tuning" / pkg / "__init__.py"
        if not path.exists() or not same_module(path.read_text(), text):
            log.append(f"write {path.relative_to(root)}")
            if not dry:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                git(root, "add", str(path))
    main = root / "tuning" / "space" / "__main__.py"
    main_text = ('"""``python -m tuning.space``: the reference of the space file\'s settings\n'
                 '(docs/config-reference.md)."""\n\nfrom tuning.space._settings import '
                 'reference_markdown_space\n\nprint(reference_markdown_space(), end="")\n')
    if not main.exists() or not same_module(main.read_text(), main_text):
        log.append(f"write {main.relative_to(root)}")
        if not dry:
            main.write_text(main_text)
            git(root, "add", str(main))
    parse = new_path(root, "space")
    if parse.is_file():
        text = parse.read_text()
        stripped = re.sub(r"\n\n\nif __name__ == \"__main__\":\n(    .*\n)+$", "\n", text)
        if stripped != text:
            log.append(f"drop the __main__ block of {parse.relative_to(root)} (now "
                       "tuning/space/__main__.py)")
            if not dry:
                parse.write_text(stripped)


def same_module(a: str, b: str) -> bool:
    """Whether two module texts hold the same code, whatever the order of imported names and
    imports (ruff's import sort runs after the codemod writes a package's ``__init__``)."""
    def norm(text: str) -> str:
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                node.names.sort(key=lambda a: (a.name, a.asname or ""))
        tree.body.sort(key=lambda n: (not isinstance(n, ast.Expr), not isinstance(
            n, ast.ImportFrom), ast.dump(n) if isinstance(n, ast.ImportFrom) else ""))
        return ast.dump(tree)

    try:
        return norm(a) == norm(b)
    except SyntaxError:
        return False


def format_all(names: list[str]) -> str:
    out, line = [], "__all__ = ["
    for i, n in enumerate(names):
        item = f'"{n}"' + (", " if i < len(names) - 1 else "]")
        if len(line) + len(item.rstrip()) > 99:
            out.append(line.rstrip())
            line = "           "
        line += item
    out.append(line if names else "__all__ = []")
    return "\n".join(out)


def format_from(module: str, names: list[tuple[str, str | None]], indent: str,
                comment: str = "") -> str:
    items = [n if a is None else f"{n} as {a}" for n, a in names]
    one = f"{indent}from {module} import {', '.join(items)}"
    if len(one) + (len(comment) + 2 if comment else 0) <= 100:
        return one + (f"  {comment}" if comment else "")
    head = f"{indent}from {module} import (" + (f"  {comment}" if comment else "")
    return "\n".join([head] + [f"{indent}    {i}," for i in items] + [f"{indent})"])


# ---------------------------------------------------------------------------------------------
# Rewriting references

def package_of_file(root: Path, path: Path) -> str | None:
    rel = path.relative_to(root).parts
    if len(rel) >= 3 and rel[0] == "tuning" and rel[1] in PACKAGE_DOCS:
        return rel[1]
    return None


def rewrite_imports(root: Path, path: Path, text: str, exports: Exports,
                    private_uses: list[str]) -> str:
    """The import statements of a Python file, rewritten (line spans from ast)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    own = package_of_file(root, path)
    lines = text.splitlines(keepends=True)
    edits = []  # (first line, last line, replacement)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            repl = _rewrite_from(node, own, exports, root, path, private_uses)
        elif isinstance(node, ast.Import):
            repl = _rewrite_import(node)
        else:
            continue
        if repl is None:
            continue
        first, last = node.lineno - 1, node.end_lineno - 1
        indent = re.match(r"\s*", lines[first]).group(0)
        comment = ""
        m = re.search(r"(#.*)$", lines[last].rstrip("\n")) or \
            re.search(r"\(\s*(#.*)$", lines[first].rstrip("\n"))
        if m and not lines[last][node.end_col_offset:].strip().startswith(";"):
            comment = m.group(1)
        if lines[first][:node.col_offset].strip() or lines[last][node.end_col_offset:].strip() \
                not in ("", comment):
            continue  # shares its line with other code (``x; from a import b``): leave it
        out = [r(indent, comment if i == 0 else "") for i, r in enumerate(repl)]
        edits.append((first, last, "\n".join(out) + "\n"))
    for first, last, new in sorted(edits, reverse=True):
        lines[first:last + 1] = [new]
    return "".join(lines)


def _rewrite_from(node: ast.ImportFrom, own: str | None, exports: Exports, root: Path,
                  path: Path, private_uses: list[str]):
    parts = node.module.split(".")
    if parts[0] != "tuning":
        return None
    if len(parts) == 1:  # from tuning import a, b: modules among them
        moved = [a for a in node.names if a.name in MOVES]
        if not moved:
            return None
        rest = [a for a in node.names if a.name not in MOVES]
        out = []
        if rest:
            out.append(lambda ind, c, rest=rest: format_from(
                "tuning", [(a.name, a.asname) for a in rest], ind, c))
        for a in moved:
            pkg, mod = MOVES[a.name]
            out.append(lambda ind, c, a=a, pkg=pkg, mod=mod:
                       f"{ind}import tuning.{pkg}.{mod} as {a.asname or a.name}"
                       + (f"  {c}" if c else ""))
        return out
    if len(parts) != 2 or parts[1] not in MOVES:
        return None
    old = parts[1]
    pkg, mod = MOVES[old]
    groups: dict[str, list[tuple[str, str | None]]] = {}
    for a in node.names:
        target = None
        if own == pkg:  # inside the package: the module that defines the name
            definer = exports.home.get(pkg, {}).get(a.name)
            target = f"tuning.{pkg}.{MOVES[definer][1] if definer else mod}"
        else:
            home = exports.public(a.name)
            if home is not None and home[0] == pkg:
                target = f"tuning.{pkg}"
            elif home is not None and a.name not in exports.private[old]:
                target = f"tuning.{home[0]}"  # re-exported by old from another package
            else:
                target = f"tuning.{pkg}.{mod}"
                if own is not None or path.relative_to(root).parts[0] in ("tuning", "core"):
                    private_uses.append(f"{path.relative_to(root)}: {a.name} from {target}")
        groups.setdefault(target, []).append((a.name, a.asname))
    if list(groups) == [node.module]:
        return None  # unchanged (``from tuning.space import X`` outside the package)
    return [lambda ind, c, t=t, n=n: format_from(t, n, ind, c) for t, n in groups.items()]


def _rewrite_import(node: ast.Import):
    out = []
    changed = False
    for a in node.names:
        parts = a.name.split(".")
        if len(parts) == 2 and parts[0] == "tuning" and parts[1] in MOVES and \
                MOVES[parts[1]][0] != parts[1]:  # ``import tuning.space`` is the package now
            pkg, mod = MOVES[parts[1]]
            changed = True
            out.append((f"tuning.{pkg}.{mod}", a.asname))
            continue
        out.append((a.name, a.asname))
    if not changed:
        return None
    return [lambda ind, c, n=n, al=al: f"{ind}import {n}" + (f" as {al}" if al else "")
            + (f"  {c}" if c else "") for n, al in out]


def rewrite_text(root: Path, path: Path, text: str, exports: Exports) -> str:
    """Dotted names and file paths in code, strings, comments and docs."""
    olds = "|".join(sorted(MOVES, key=len, reverse=True))
    pkg_modules = {pkg: {m for p, m in MOVES.values() if p == pkg} for pkg in PACKAGE_DOCS}

    def dotted(m: re.Match) -> str:
        old, attr = m.group(1), m.group(3)
        pkg, mod = MOVES[old]
        if attr is not None and old == pkg and attr in pkg_modules[pkg]:
            return m.group(0)  # already tuning.<pkg>._<module>
        if attr is None:
            return m.group(0) if old == pkg else f"tuning.{pkg}.{mod}"
        if exports.home.get(pkg, {}).get(attr):
            return f"tuning.{pkg}.{attr}"  # a public name: from the package
        return f"tuning.{pkg}.{mod}.{attr}"

    text = re.sub(rf"(?<![\w.])tuning\.({olds})(?![\w])(\.(\w+))?", dotted, text)

    def file_path(m: re.Match) -> str:
        old = m.group(1)
        pkg, mod = MOVES[old]
        return f"tuning/{pkg}/{mod}.py"

    text = re.sub(rf"(?<![\w/])tuning/({olds})\.py\b", file_path, text)

    def test_path(m: re.Match) -> str:
        return test_paths(m.group(1))[1]

    text = re.sub(rf"(?<![\w/])tests/tuning/test_({olds})\.py\b", test_path, text)

    def test_dotted(m: re.Match) -> str:
        return test_paths(m.group(1))[1].removesuffix(".py").replace("/", ".")

    return re.sub(rf"(?<![\w.])tests\.tuning\.test_({olds})(?![\w])", test_dotted, text)


def prose_lines(text: str) -> set[int]:
    """Line numbers (0-based) of comment lines and of lines inside multi-line strings."""
    import io
    import tokenize

    out = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT and not tok.line[:tok.start[1]].strip():
                out.add(tok.start[0] - 1)
            elif tok.type == tokenize.STRING and (
                    tok.end[0] > tok.start[0] or (tok.string.startswith('"""') and
                                                  not tok.line[:tok.start[1]].strip())):
                out.update(range(tok.start[0] - 1, tok.end[0]))  # multi-line, or a docstring
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def reflow(text: str, before: str, width: int = 100) -> tuple[str, list[int]]:
    """Comment and docstring lines the rewrite made longer than ``width`` have their last words
    moved to the start of the next line of the same paragraph (or a new line); returns the text
    and the (1-based) numbers of code lines still too long, for a hand edit."""
    if max(map(len, text.splitlines()), default=0) <= width:
        return text, []
    lines = text.split("\n")
    prose = prose_lines(text)
    too_long = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        if len(line) <= width:
            i += 1
            continue
        if i not in prose:
            too_long.add(i + 1)
            i += 1
            continue
        indent = re.match(r"\s*(# )?", line).group(0)
        cut = line.rfind(" ", len(indent) + 1, width + 1)
        if cut <= len(indent):
            too_long.add(i + 1)
            i += 1
            continue
        head, tail = line[:cut].rstrip(), line[cut + 1:]
        nxt = lines[i + 1] if i + 1 < len(lines) else None
        same_paragraph = nxt is not None and (i + 1) in prose and nxt.strip() and \
            re.match(r"\s*(# )?", nxt).group(0) == indent and \
            not re.match(r"\s*(# )?(>>>|-|\*|\d+\.|[A-Z][a-z]+:$|\"\"\")", nxt) and \
            not tail.endswith('"""') and not nxt.strip().startswith(("Example", "Raises",
                                                                        "Returns", "Args"))
        lines[i] = head
        if same_paragraph:
            lines[i + 1] = indent + tail + " " + nxt[len(indent):]
            prose.add(i + 1)
        else:
            lines.insert(i + 1, indent + tail)
            prose = {j + 1 if j > i else j for j in prose} | {i + 1}
            too_long = {j + 1 if j > i + 1 else j for j in too_long}
        i += 1
    return "\n".join(lines), sorted(too_long)


def files_to_scan(root: Path) -> list[Path]:
    tracked = set(git(root, "ls-files").splitlines()) | set(
        git(root, "ls-files", "--others", "--exclude-standard").splitlines())
    out = []
    for rel in sorted(tracked):
        p = root / rel
        if not p.is_file() or (rel.split("/")[0] not in SCAN_DIRS and rel not in SCAN_FILES):
            continue
        if p.suffix in TEXT_SUFFIXES or p.name == "Makefile":
            if p.resolve() != Path(__file__).resolve():
                out.append(p)
    return out


def rewrite_all(root: Path, exports: Exports, dry: bool, log: list[str],
                private_uses: list[str], warnings: list[str]) -> list[Path]:
    changed = []
    for path in files_to_scan(root):
        text = path.read_text()
        new = text
        if path.suffix == ".py":
            new = rewrite_imports(root, path, new, exports, private_uses)
        new = rewrite_text(root, path, new, exports)
        if path.suffix == ".py" and new != text:
            new, long_lines = reflow(new, text)
            warnings += [f"{path.relative_to(root)}:{n}: longer than 100 characters; wrap by hand"
                         for n in long_lines]
        if new != text:
            changed.append(path)
            log.append(f"rewrite {path.relative_to(root)}")
            if not dry:
                path.write_text(new)
    return changed


# ---------------------------------------------------------------------------------------------
# README layout, architecture module map and dependency order

def replace_block(text: str, start: str, is_inside, block: str) -> str | None:
    """``text`` with the lines from the one starting with ``start`` while ``is_inside(line)``
    replaced by ``block``; None when there is no such line."""
    lines = text.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.startswith(start)), None)
    if first is None:
        return None
    last = first + 1
    while last < len(lines) and is_inside(lines[last]):
        last += 1
    return "".join(lines[:first]) + block + "".join(lines[last:])


def leftover_modules(root: Path) -> list[str]:
    """Top-level tuning modules the blocks do not name (other branches' new modules)."""
    known = {"__init__", "api", "confirm", "errors", "export", "report", "sweep"}
    return sorted(p.stem for p in (root / "tuning").glob("*.py")
                  if p.stem not in known and p.stem not in MOVES)


def update_docs(root: Path, dry: bool, log: list[str], warnings: list[str]) -> None:
    extra = leftover_modules(root)
    readme = root / "README.md"
    block = README_BLOCK
    if extra:
        block += "  " + "  ".join(f"{m}.py" for m in extra) + "   (see their docstrings)\n"
        warnings.append(f"README.md and docs/architecture.md: describe {', '.join(extra)} by "
                        "hand (modules the codemod does not know)")
    text = readme.read_text()
    new = replace_block(text, "tuning/      ", lambda line: line.startswith("  "), block)
    if new is None:
        warnings.append("README.md: no 'tuning/      ' line in the layout; update it by hand")
    elif new != text:
        log.append("rewrite README.md layout (tuning/)")
        if not dry:
            readme.write_text(new)
    arch = root / "docs" / "architecture.md"
    text = arch.read_text()
    block = ARCHITECTURE_BLOCK + "".join(f"  {m}.py  (see its docstring)\n" for m in extra)
    new = replace_block(text, "tuning/\n", lambda line: line.startswith("  "), block)
    if new is None:
        warnings.append("docs/architecture.md: no 'tuning/' block in the module map")
    else:
        new = new.replace(
            "A package (`core.config`, `core.data`, `core.models`) re-exports its modules' public "
            "names in\nits `__init__`",
            "A package (`core.config`, `core.data`, `core.models`; in `tuning` `space`, `record`, "
            "`study`,\n`execution`, `driver`, whose modules are private, `_name.py`) re-exports "
            "its modules'\npublic names in its `__init__`")
        order = dependency_order(root) if not dry else None
        if order is not None:
            new = replace_order(new, order, warnings)
        if new != text:
            log.append("rewrite docs/architecture.md module map and dependency order")
            if not dry:
                arch.write_text(new)


def dependency_order(root: Path) -> list[str] | None:
    """The tuning entries of the dependency order, from tests/test_imports.py's import graph:
    top-level modules and packages by level, each package with its modules by level."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_graph_of", root / "tests" / "test_imports.py")
    if spec is None:
        return None
    sys.path.insert(0, str(root))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    graph = {m: {d for d in deps if d.startswith("tuning.")} for m, deps in mod._graph().items()
             if m.startswith("tuning.")}

    def unit(m: str) -> str:
        parts = m.split(".")
        return ".".join(parts[:2])

    units: dict[str, set[str]] = {}
    for m, deps in graph.items():
        units.setdefault(unit(m), set()).update(unit(d) for d in deps if unit(d) != unit(m))
    level: dict[str, int] = {}

    def depth(u: str, seen=()) -> int:
        if u not in level:
            if u in seen:
                raise SystemExit(f"restructure_tuning: package cycle through {u}")
            level[u] = 1 + max((depth(d, seen + (u,)) for d in units[u]), default=0)
        return level[u]

    for u in units:
        depth(u)
    out = []
    for lv in range(1, max(level.values()) + 1):
        items = []
        for u in sorted(u for u in units if level[u] == lv):
            inner = sorted(m for m in graph if m.startswith(u + "."))
            if not inner:
                items.append(f"`{u}`")
                continue
            sub = levels_within(graph, inner)
            steps = [", ".join(f"`{m.rsplit('.', 1)[1]}`" for m in inner if sub[m] == k)
                     for k in range(1, max(sub.values()) + 1)]
            items.append(f"the package `{u}` ({', then '.join(steps)}, then its `__init__`)")
        out.append(", ".join(items))
    return out


def levels_within(graph: dict[str, set[str]], inner: list[str]) -> dict[str, int]:
    """Each module of ``inner`` -> 1 + the longest chain of ``inner`` modules it imports."""
    sub: dict[str, int] = {}

    def d2(m: str) -> int:
        if m not in sub:
            sub[m] = 1 + max((d2(d) for d in graph[m] if d in inner), default=0)
        return sub[m]

    for m in inner:
        d2(m)
    return sub


def replace_order(text: str, order: list[str], warnings: list[str]) -> str:
    lines = text.splitlines(keepends=True)
    idx = [i for i, line in enumerate(lines) if re.match(r"\d+\. ", line)]
    first_tuning = next((i for i in idx if "`tuning" in lines[i]), None)
    if first_tuning is None:
        warnings.append("docs/architecture.md: no tuning entry in the dependency order")
        return text
    last = first_tuning
    while last + 1 < len(lines) and (re.match(r"\d+\. ", lines[last + 1]) or
                                     lines[last + 1].startswith("   ")):
        last += 1
    start_no = int(lines[first_tuning].split(".")[0])
    new = []
    for k, entry in enumerate(order + ["the package `tuning`"]):
        new += wrap(f"{start_no + k}. {entry}", " " * len(f"{start_no + k}. "))
    lines[first_tuning:last + 1] = new
    return "".join(lines)


def wrap(text: str, indent: str, width: int = 100) -> list[str]:
    words, out, line = text.split(" "), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            out.append(line + "\n")
            line = indent + w
        else:
            line = f"{line} {w}" if line else w
    return out + [line + "\n"]


# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    p.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    p.add_argument("--check", action="store_true", help="exit 1 while anything is left to do")
    p.add_argument("--no-ruff", action="store_true", help="skip ruff's import sort afterwards")
    args = p.parse_args(argv)
    root = args.root.resolve()
    dry = args.dry_run or args.check
    if not (root / "tuning" / "__init__.py").is_file():
        raise SystemExit(f"{root}: not the repository root (no tuning/__init__.py)")
    log: list[str] = []
    warnings: list[str] = []
    private_uses: list[str] = []
    exports = Exports(root)
    move(root, dry, log, warnings)
    if not dry:
        exports = Exports(root)  # now read from the moved files
    write_packages(root, exports, dry, log)
    changed = rewrite_all(root, exports, dry, log, private_uses, warnings)
    update_docs(root, dry, log, warnings)
    if not dry and not args.no_ruff and changed:
        subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--select", "I",
                        "-q", *map(str, changed), str(root / "tuning")], cwd=root)
    for line in log:
        print(line)
    for w in sorted(set(private_uses)):
        print(f"note: imports a name no __all__ exports, from the private module: {w}")
    for w in warnings:
        print(f"warning: {w}")
    if args.check:
        return 1 if log else 0
    print(f"{'would change' if dry else 'changed'}: {len(log)} step(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
