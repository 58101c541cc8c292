"""The confirmation phase, driven: after a finished search, the best configurations retrained
on fresh seeds through the same Ray machinery (``tuning.execution.run_trials``, no ASHA).

``tuning.confirm`` holds the rules (candidates, seeds, intervals, the winner) and the files;
this module plans the runs in the confirmation study, reconciles them with the disk on a resume
(``tuning.execution.reconcile``), runs those still to go, and writes ``confirmation.json`` /
``confirmation.csv`` and ``trials.csv`` with both phases. ``tuning.driver`` calls it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.cli import EXIT_INTERRUPTED, EXIT_OK
from core.data import DataSplits
from tuning.confirm import confirm_key, plan, summarize, write_confirmation
from tuning.driver._setup import PreparedSweep
from tuning.execution import RayOptions, reconcile, run_trials
from tuning.record import write_events, write_trials_csv
from tuning.space import SearchSpace
from tuning.study import open_confirm_study

__all__ = ["confirm_search", "run_confirmation"]

log = logging.getLogger("tuning")


def confirm_search(ray_opts: RayOptions, sweep: PreparedSweep, study, budget_s: float | None,
                   on_change: Callable[[], None]) -> int:
    """Confirms the finished search in ``study`` (an ``optuna.Study``), within ``budget_s``
    seconds of Tune time (None: no limit), and writes its files; ``on_change`` is called as
    runs progress (the driver refreshes trials.csv). Logs the confirmed winner.

    Returns:
        The exit code: that of the Tune run, or ``EXIT_INTERRUPTED`` when runs are left
        unfinished without a budget.
    """
    space, exp_dir = sweep.space, sweep.exp_dir
    if budget_s is not None and budget_s <= 0:
        log.warning("confirmation skipped: the time budget is spent")
        return EXIT_OK
    code, confirm = run_confirmation(dataclasses.replace(ray_opts, time_budget=budget_s),
                                     sweep.spec, space, exp_dir, study, sweep.data, on_change)
    write_trials_csv(study, exp_dir, space, confirm, confirm_key)
    write_events(exp_dir, confirm, confirm_key)
    summary = summarize(exp_dir, space, confirm)
    write_confirmation(exp_dir, summary)
    runs = confirm.get_trials(deepcopy=False)
    unfinished = sum(not t.state.is_finished() for t in runs)
    if code == EXIT_OK and unfinished and budget_s is None:
        code = EXIT_INTERRUPTED
    if code == EXIT_OK and unfinished:
        log.warning("time budget reached during confirmation: %d of %d runs unfinished; they "
                    "stay RUNNING (trials.csv: running) and a resume finishes them with their "
                    "planned seeds", unfinished, len(runs))
    if summary["winner"] is not None:
        w = summary["candidates"][summary["winner"]]
        top = summary["candidates"][0]
        spread = f"95% interval [{w['low']:.4f}, {w['high']:.4f}] over {w['n']} seeds" \
            if w["n"] > 1 else "1 seed (no interval from one run)"
        log.info("confirmed winner: the configuration of %s: %s mean %.4f, %s (last epoch); "
                 "search-phase best %s (%.4f)%s", w["trial"], space.metric, w["mean"],
                 spread, top["trial"], top["search_score"],
                 "" if top is w else f", confirmed mean {top['mean']:.4f}")
    else:
        log.warning("confirmation: no run finished; the search-phase best stands")
    return code


def run_confirmation(ray_opts: RayOptions, spec: dict, space: SearchSpace, exp_dir: Path,
                     search, data: DataSplits, on_change) -> tuple[int, Any]:
    """Plans and runs (or continues) the confirmation of the search in ``search``; returns the
    exit code of its Tune run (``tuning.execution.run_trials``) and the confirmation study. Runs
    already finished on disk are closed, not run again (``tuning.execution.reconcile``)."""
    confirm = open_confirm_study(search)
    cands = plan(confirm, search, space, spec["base"])
    if not cands:
        log.warning("confirmation: no finished search trial to confirm")
        return 0, confirm
    continuing = reconcile(confirm, exp_dir, space, key_of=confirm_key)
    runs = len(confirm.get_trials(deepcopy=False))
    log.info("confirmation: %d candidate(s) (%s) x %d seed(s) %s, %d epochs each; %d of %d runs "
             "to go", len(cands), " ".join(c["trial"] for c in cands),
             len(confirm.user_attrs["seeds"]), confirm.user_attrs["seeds"], space.max_epochs,
             len(continuing), runs)
    code = 0
    if continuing:
        code = run_trials(ray_opts, spec, space, exp_dir, confirm, continuing, len(continuing),
                          data, on_change, key_of=confirm_key, asha=False, evaluate_test=True,
                          close_at_budget=False)
    return code, confirm
