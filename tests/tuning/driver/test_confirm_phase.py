"""tuning.driver._confirm_phase: the confirmation driven after the search (its runs end to end, with
a kill and a resume: test_confirm.py)."""

import logging
from types import SimpleNamespace

from core.cli import EXIT_OK
from tuning.driver import confirm_search
from tuning.execution import RayOptions


def test_a_spent_time_budget_skips_confirmation_and_writes_nothing(tmp_path, caplog):
    sweep = SimpleNamespace(space=None, exp_dir=tmp_path, spec={}, data=None)
    with caplog.at_level(logging.WARNING, logger="tuning"):
        code = confirm_search(RayOptions(), sweep, study=None, budget_s=0.0,
                              on_change=lambda: None)
    # The search's best stands: exit 0, no confirmation file, and the log says why.
    assert code == EXIT_OK and list(tmp_path.iterdir()) == []
    assert "confirmation skipped: the time budget is spent" in caplog.text
