"""The README and docs/: every page linked from the README, every link resolving, and every flag
in a command example known to that command's --help."""

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# "python -m tuning.sweep ...", ".venv/bin/python -m core.train ...", "python benchmarks/x.py"
COMMAND = re.compile(r"(?:^|[\s`(])(?:\S*/)?python3? (-m [\w.]+|benchmarks/\w+\.py)([^`\n]*)")


def _commands() -> list[tuple[str, str, str]]:
    """(page, program, the rest of the line) for every command example."""
    out = []
    for page in PAGES:
        for line in page.read_text().splitlines():
            for program, rest in COMMAND.findall(line):
                out.append((page.name, program, rest.split("#")[0]))
    return out


@cache
def _helps() -> dict[str, str]:
    """Every example's program's --help output. The programs start together: each spends its
    few seconds importing torch and Ray, which one after another would add up."""
    procs = {}
    for program in sorted({p for _, p, _ in _commands()}):
        args = program.split() if program.startswith("-m") else [program]
        procs[program] = subprocess.Popen([sys.executable, *args, "--help"], cwd=ROOT,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True)
    out = {}
    for program, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        out[program] = (proc.returncode, stdout, stderr)
    return out


def _help(program: str) -> str:
    code, stdout, stderr = _helps()[program]
    assert code == 0, (program, stderr[-2000:])
    return stdout


def test_every_docs_page_is_linked_from_the_readme_and_links_resolve():
    readme = (ROOT / "README.md").read_text()
    for page in PAGES[1:]:
        assert f"docs/{page.name}" in readme, f"{page.name} is not linked from the README"
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), (page.name, target)


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def test_the_readme_layout_names_every_module_and_package():
    text = (ROOT / "README.md").read_text()
    layout = text[text.index("## Layout"):]
    layout = layout[:layout.index("```", layout.index("```") + 3)]
    words = set(re.findall(r"[\w.]+/?", layout))
    missing = []
    for package in ("core", "tuning"):
        for path in sorted((ROOT / package).iterdir()):
            if path.is_dir() and (path / "__init__.py").exists():
                name = path.name + "/"
            elif path.suffix == ".py" and path.name != "__init__.py":
                name = path.name
            else:
                continue
            if name not in words:
                missing.append(f"{package}/{name}")
    assert not missing, missing


COMMANDS = _commands()


def test_command_examples_found():
    programs = {p for _, p, _ in COMMANDS}
    assert {"-m tuning.sweep", "-m core.train", "-m tuning.export", "-m tuning.report"} <= programs


@pytest.mark.parametrize("program", sorted({p for _, p, _ in COMMANDS}))
def test_command_example_flags_are_known_to_the_command(program):
    known = set(re.findall(r"--[\w-]+", _help(program)))
    for page, prog, rest in COMMANDS:
        if prog != program:
            continue
        for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", rest):
            assert flag in known, f"{page}: {program} {flag} is not in its --help"
