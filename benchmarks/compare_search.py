"""Search quality per GPU-hour: this project's sweep against what users would otherwise run.

    python benchmarks/compare_search.py --out runs/compare
        [--task default|hard|japanese_vowels|tsc] [--budget 90] [--seeds 0,1,2]
        [--methods a,b,c,d] [--confirm 3,2] [--retrain-seeds 100,101]
    python benchmarks/compare_search.py --out runs/compare --analyse   (table, JSON and plot only)
    python benchmarks/compare_search.py --out runs/compare --smoke     (tiny CPU run)

Tasks (``--task``; every method gets the task's space, base config, epochs and rungs):

- ``default``: ``search_spaces/gru.yaml`` on the embedded data set (9 classes, noise 0.5);
- ``hard``: the same space on a harder embedded data set (``HARD``: 5 motifs, so 25 classes,
  noise 1.0, 30,000 sequences); ``--set`` changes it further (``--set data.synthetic.noise=1.2``);
- ``japanese_vowels``: the real JapaneseVowels set (``tests/data/japanese_vowels.npz``, official
  train/test split, validation carved out of train, lengths 7 to 29) with
  ``benchmarks/real/japanese_vowels_space.yaml``. Every method selects on ``val_loss`` there:
  ``val_accuracy`` saturates at 1.0 on its 54 validation sequences (docs/real-data.md).
- ``tsc``: the same JapaneseVowels file searched with the shipped small-data space
  ``search_spaces/tsc.yaml`` exactly as a user runs it (``--set data.source=npz --set
  data.path=FILE``), selected on its metric ``val_loss`` and scored on ``test_accuracy``. The
  space is sized to the data (``size_to_data``: 5-fold CV, batch sizes 4-16, 72 epochs, ASHA
  grace 7) for every method as a's sweep sizes it at pre-flight (``tasks.task_setup``; a's run
  checks that its sweep reached the same sizes); ``--smoke`` skips the sizing (2 folds, 4
  epochs). Trials report fold means; a retrain trains the K fold models again and its test
  accuracy is their mean prediction's (``core.cv.FoldEnsemble``), not that of the refit
  (``final_config.yaml``) or the ensemble (``ensemble.yaml``) the sweep also writes.

Methods, same training code (``core.loop.fit``), same wall-clock budget after start-up:

- a: ``python -m tuning.sweep`` with the shipped defaults (TPE, ASHA, truthful pruned trials, 8
  trials per GPU with MPS) and the confirmation stage (``--confirm K,S``, default 3,2) inside the
  budget: its final choice is the confirmed winner (``best_config.yaml``);
- b: stock Ray Tune as documented: ``OptunaSearch`` (TPE, its defaults) + ``ASHAScheduler`` with
  the same rungs, one trial per GPU, Ray's own bookkeeping of stopped trials; its final choice is
  ``ResultGrid.get_best_result(metric, mode)`` (scope "last": each trial's last reported score);
- c: Ray Tune random search (Optuna's RandomSampler through ``OptunaSearch``, since the space has
  conditional parameters), every trial trained to full length, one trial per GPU; final choice
  as b's;
- d: Optuna alone: ``TPESampler`` + ``SuccessiveHalvingPruner`` with the same rungs, ``--workers``
  processes sharing a ``JournalStorage`` file (Optuna's recipe for parallel runs), each with its
  own sampler seed; its final choice is ``study.best_trial`` (the best COMPLETE trial).

Each run writes ``<out>/<method>-s<seed>/summary.json``: when its first training step happened
(start-up is the time from launch to then), per trial its first step, per-epoch report times and
scores, and (a) the sweep's confirmed winner, search-phase best and confirmation timings. The
budget clock starts at the first training step; every method gets ``--slack`` seconds more (its
own clock starts before its first step) and the analysis cuts all of them at exactly
``--budget`` seconds, where it applies each peer's own rule of choosing to what had been
reported by then. a's sweep gets ``--time-budget`` budget + slack for search and confirmation
together (the confirmation's share: ``confirm_share``); the table says when after its first step
its final choice was made.
With as many GPUs as methods the methods run side by side, one GPU each; otherwise one after
another on GPU 0.

After each seed's runs, every final choice (and a's search-phase best) is retrained with
``python -m core.train`` on ``--retrain-seeds`` and scored on the held-out test split; then the
analysis is rewritten, so a run cut off early leaves analysable results. The analysis prints a
table (median and range over seeds), writes ``table.md``, ``results.json`` and ``anytime.png``
(best validation score among trials trained to full length against time). The target of
time-to-target is the median final result of c; without runs of c, the best available
baseline's (b or d; the table says which).

This file is the command line; the work lives in the package ``benchmarks/compare/`` (tasks, one
module per method family, orchestration, analysis, packing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.compare import (  # noqa: E402
    HARD,
    METHODS,
    TASKS,
    Setup,
    Task,
    analyse,
    confirm_share,
    final_choices,
    pack,
    reach,
    retrain,
    retrain_dir,
    run_all,
    run_one,
    target_method,
    task_setup,
    timeline,
)
from benchmarks.compare.method_optuna import optuna_worker  # noqa: E402
from benchmarks.compare.tasks import setup_of  # noqa: E402
from core.cli import (  # noqa: E402
    int_at_least,
    int_list,
    name_list,
    non_negative_seconds,
    positive_seconds,
)
from tuning.confirm import confirm_arg  # noqa: E402

# The command's names, and the package's public names for code that imported them from here.
__all__ = ["HARD", "METHODS", "TASKS", "Setup", "Task", "analyse", "build_parser",
           "confirm_share", "final_choices", "main", "reach", "retrain", "retrain_dir",
           "task_setup", "target_method", "timeline"]

SLACK_S = 15.0  # default --slack: b, c, d run this long past the budget; the analysis cuts there


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1), got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/compare"))
    p.add_argument("--task", choices=tuple(TASKS), default="default",
                   help="default | hard | japanese_vowels | tsc (module docstring)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="base-config override after the task's own, for every method and "
                        "retrain (repeatable)")
    p.add_argument("--budget", type=positive_seconds, default=None,
                   help="seconds per run after start-up (default 90; --analyse: the run's)")
    p.add_argument("--slack", type=non_negative_seconds, default=SLACK_S,
                   help="seconds b, c and d run past the budget (the analysis cuts at it)")
    p.add_argument("--trials", type=int_at_least(1), default=None,
                   help="a budget in trials as well: each run starts this many search trials "
                        "(d's workers check after each of theirs: up to N + workers - 1) and "
                        "ends when they are done, whatever the machine's load (the smoke "
                        "tests); --budget still cuts the runs and the analysis")
    p.add_argument("--seeds", type=int_list(0), default="0,1,2")
    p.add_argument("--methods", type=name_list(METHODS), default="a,b,c,d",
                   help="which of a, b, c, d to run (module docstring), in this order")
    p.add_argument("--workers", type=int_at_least(1), default=4,
                   help="Optuna processes for method d")
    p.add_argument("--confirm", type=confirm_arg, default="3,2", metavar="K,S",
                   help="a's confirmation stage: top K configurations x S fresh seeds, inside "
                        "the budget (0: off, a then runs past the budget like the others)")
    p.add_argument("--confirm-share", type=_share, default=None,
                   help="share of a's time budget kept for its confirmation (budget_share; "
                        "default: 25 s of it, between 0.2 and 0.5)")
    p.add_argument("--retrain-seeds", type=int_list(0), default=None,
                   help="fresh seeds on which every final choice is retrained (default 100,101)")
    p.add_argument("--retrain-parallel", type=int_at_least(1), default=None,
                   help="retrains at a time (default 8 with a GPU, 2 without)")
    p.add_argument("--deadline", type=positive_seconds, default=None,
                   help="wall-clock seconds for the whole command: a run or retrain batch that "
                        "would end past it is skipped, and the analysis still runs")
    p.add_argument("--analyse", action="store_true", help="only the table, JSON and plot")
    p.add_argument("--no-retrain", action="store_true")
    p.add_argument("--pack", type=Path, metavar="FILE.tar.gz",
                   help="after the analysis, pack the small result files into one archive")
    p.add_argument("--smoke", action="store_true", help="tiny CPU run (data, epochs)")
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.out = args.out.resolve()
    args.retrain_seeds_given = args.retrain_seeds is not None
    if args.retrain_seeds is None:
        args.retrain_seeds = [100, 101]
    if args.retrain_parallel is None:
        import torch

        args.retrain_parallel = 8 if torch.cuda.is_available() else 2
    if args.analyse:
        if not args.out.is_dir():
            raise SystemExit(f"--out {args.out}: no such directory")
        return _analyse_and_pack(args)
    if args.budget is None:
        args.budget = 90.0
    if args.worker is not None:
        return optuna_worker(args.worker, args.seed, args)
    if args.run is not None:
        return run_one(args.run, args.seed, args)
    setup_of(args)  # a bad task or override stops here, before anything runs
    args.out.mkdir(parents=True, exist_ok=True)
    run_all(args)
    _analyse_and_pack(args)
    missing = [f"{m}-s{seed}" for seed in args.seeds for m in args.methods
               if not (args.out / f"{m}-s{seed}" / "summary.json").exists()]
    if missing:  # the table lacks them: not a success, even when an earlier run left others
        raise SystemExit(f"{len(missing)} run(s) did not finish (failed, or skipped for the "
                         f"deadline): {', '.join(missing)}; logs: {args.out}/<run>.log; the same "
                         "command runs only these again")


def _analyse_and_pack(args) -> None:
    try:
        analyse(args)
    finally:  # the archive also when there is nothing to analyse: its logs say why
        if args.pack:
            pack(args.out, args.pack.resolve())


if __name__ == "__main__":
    main()
