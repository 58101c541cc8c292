"""Method d: Optuna alone, ``TPESampler`` + ``SuccessiveHalvingPruner`` with the task's rungs,
``--workers`` processes sharing a ``JournalStorage`` file (Optuna's recipe for parallel runs),
each with its own sampler seed; its final choice is ``study.best_trial``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks.compare.summary import write_summary
from benchmarks.compare.tasks import ENTRY, ROOT, child_flags, setup_of
from benchmarks.compare.training import WORST, train_one
from core.config import config_to_dict
from tuning.space import compile_space

__all__ = ["optuna_worker", "run_optuna"]


def optuna_worker(journal: Path, seed: int, args) -> None:
    """One of d's processes: optimises the study in ``journal`` until the budget and slack end."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from core.data import load_data
    from core.errors import NonFiniteLossError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = setup_of(args)
    metric, mode = st.task.metric, st.mode
    base, data = config_to_dict(st.cfg), load_data(st.cfg.data, st.cfg.task)
    define = compile_space(st.space.params)
    study = optuna.load_study(
        study_name="d", storage=JournalStorage(JournalFileBackend(str(journal))),
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=st.grace,
                                                      reduction_factor=st.rf))
    timeout = args.budget + args.slack
    stop_at = time.time() + timeout

    def objective(trial):
        params = define(trial)
        trial.set_user_attr("params", params)
        reports, scores = [], []

        def on_epoch(metrics, first_step):
            reports.append(time.time())
            scores.append(metrics[metric])
            trial.set_user_attr("timeline", {"first_step": first_step, "reports": reports,
                                             "scores": scores})
            trial.report(metrics[metric], metrics["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned()
            if time.time() > stop_at:
                # Past the analysis' cut (budget + slack): Optuna's timeout would let this
                # trial train to the end; nothing after the cut is read, so stop it now.
                raise optuna.TrialPruned()

        try:
            return train_one(base, params, st.max_epochs, data, on_epoch, metric, mode)
        except NonFiniteLossError:
            return WORST[mode]

    # --trials N: a worker starts no trial once N exist (it checks after each of its trials).
    cap = [optuna.study.MaxTrialsCallback(args.trials, states=None)] if args.trials else None
    study.optimize(objective, timeout=timeout, callbacks=cap)


def run_optuna(seed: int, args, out: Path) -> None:
    """Runs d into ``out``: creates the study, starts ``args.workers`` worker processes (the
    command with ``--worker``), and writes the summary from the study."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    st = setup_of(args)
    journal = out / "journal.log"
    storage = JournalStorage(JournalFileBackend(str(journal)))
    optuna.create_study(study_name="d", storage=storage,
                        direction="maximize" if st.mode == "max" else "minimize")
    procs = [subprocess.Popen([sys.executable, str(ENTRY), "--worker", str(journal),
                               "--seed", str(seed * 100 + r), *child_flags(args)], cwd=ROOT)
             for r in range(args.workers)]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"optuna worker exited {p.returncode}")
    study = optuna.load_study(study_name="d", storage=storage)
    trials = [{**t.user_attrs["timeline"], "params": t.user_attrs["params"],
               "state": t.state.name, "value": t.value}
              for t in study.get_trials(deepcopy=False) if "timeline" in t.user_attrs]
    uncut = None
    try:  # the tool's own answer over the whole run (slack included), for the record
        uncut = study.best_trial.user_attrs.get("params")
    except ValueError:
        pass
    write_summary(out, trials, st, {"tool_choice_uncut": uncut})
