"""tuning.driver: what the driver tells the user (end-to-end sweeps: test_sweep.py)."""

import sys

from tuning.driver import resume_command


def test_resume_hint_pastes_the_way_the_sweep_was_started(tmp_path):
    assert resume_command(tmp_path / "d", {"SEQTUNE_VIA_MAKE": "1", "PATH": ""}) == \
        f'make sweep ARGS="--resume {tmp_path / "d"}"'
    hint = resume_command(tmp_path / "d", {"PATH": ""})
    assert hint == f"{sys.executable} -m tuning.sweep --resume {tmp_path / 'd'}"
