"""core.cli: helpers of every command-line entry point."""

import shlex
import sys
from pathlib import Path

from core.cli import python_command


def test_the_pasted_interpreter_is_python_only_when_that_is_this_one(tmp_path):
    # make sweep runs .venv/bin/python with no venv active: "python" on the PATH is another one
    # (or none), and a pasted "python -m core.train" fails there without torch
    assert python_command({"PATH": str(tmp_path)}) == shlex.quote(sys.executable)
    assert python_command({"PATH": str(Path(sys.executable).parent)}) == "python"
