"""The comparison's tasks and methods: what every method searches and is scored on.

``task_setup`` turns a task name (a key of ``TASKS``) into a ``Setup``: its space, base config
with the task's (and ``--set``) overrides, epochs, rungs and the direction of its metric. A space
sized to its data (``size_to_data: true``, search_spaces/tsc.yaml) is sized here as the sweep
sizes it at pre-flight (``tuning.driver.size_to_data``): ``data.cv_folds`` in the base config,
the batch size choices, ``max_epochs`` and ASHA's grace period, so that the peers b, c and d
search the space a's sweep searches (``--smoke`` skips the sizing, as the sweep's does).

With ``data.cv_folds`` on (the ``tsc`` task), every trial of every method trains its K fold models
together (``core.loop.fit``) and reports the fold means; a retrain (``orchestration.retrain``,
``core.train`` on the trial's config) trains the K fold models again, and its ``test_*`` metrics
are those of the fold models' mean prediction (``core.cv.FoldEnsemble``, each model trained on
(K-1)/K of the non-test series, at the best epoch of the fold-mean curve) on the test split: not
the refit on every non-test series (``final_config.yaml``) nor the sweep's ``ensemble.yaml``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from core.config import ConfigError, config_from_dict, config_to_dict, load_config
from core.tasks import direction
from tuning.driver import size_to_data
from tuning.space import edited, load_space

__all__ = ["ENTRY", "HARD", "METHODS", "ROOT", "SMOKE", "SPACE", "Setup", "TASKS", "Task",
           "better", "child_flags", "confirm_text", "setup_of", "task_setup"]

ROOT = Path(__file__).resolve().parents[2]
ENTRY = ROOT / "benchmarks" / "compare_search.py"  # the command; child processes re-run it
SPACE = ROOT / "search_spaces" / "gru.yaml"
JAPANESE_VOWELS = ROOT / "tests" / "data" / "japanese_vowels.npz"
METHODS = {"a": "this sweep (defaults, confirmed)", "b": "Ray Tune OptunaSearch + ASHA",
           "c": "Ray Tune random, full length", "d": "Optuna TPE + SH pruner, processes"}
SMOKE = ("data.synthetic.num_samples=600", "data.synthetic.seq_len=16", "model.hidden_size=16",
         "training.eval_batch_size=256")
# The harder embedded data set (--task hard): 25 classes (ordered pairs of 5 motifs) under
# noise of twice the default's standard deviation, with 50% more sequences so that each class
# keeps 840 training sequences. On 2 CPU cores a one-layer GRU of 128 (lr 3e-3, batch 128) climbed
# from chance (0.04) to 0.27 val accuracy in 12 epochs and stayed there to epoch 20; a two-layer
# one (lr 2e-3, batch 64) passed it at epoch 7 (0.305 at epoch 8, still climbing). The default
# data set: 0.95 within 15 s on a GPU. Learnable, with room for a search.
HARD = ("data.synthetic.num_motifs=5", "data.synthetic.noise=1.0",
        "data.synthetic.num_samples=30000")


@dataclass(frozen=True)
class Task:
    """One benchmark task: the space every method searches and what every method is scored on."""

    space: Path  # search-space YAML: params, max_epochs, rungs, base config
    overrides: tuple[str, ...]  # KEY=VALUE for the base config: every method and every retrain
    metric: str  # the validation metric every method selects on (its mode: the task's)
    test_metric: str  # the held-out criterion: core.train's summary.json "test" key
    smoke: tuple[str, ...]  # --smoke: overrides that make a CPU run take seconds
    about: str  # one line for the table


TASKS = {
    "default": Task(SPACE, (), "val_accuracy", "test_accuracy", SMOKE,
                    "search_spaces/gru.yaml on the embedded data set (9 classes, noise 0.5)"),
    "hard": Task(SPACE, HARD, "val_accuracy", "test_accuracy",
                 SMOKE[1:] + ("data.synthetic.num_samples=1000",),
                 "search_spaces/gru.yaml on the harder embedded data set (" + ", ".join(HARD)
                 + ")"),
    "japanese_vowels": Task(
        ROOT / "benchmarks" / "real" / "japanese_vowels_space.yaml",
        # device: the base config is written for a CPU sweep; the retrains' best.pt is chosen on
        # the metric the methods select on.
        ("experiment.device=auto", "training.checkpoint_metric=val_loss",
         f"data.path={JAPANESE_VOWELS}"),
        "val_loss", "test_accuracy", (),
        "JapaneseVowels (official split; benchmarks/real/japanese_vowels_space.yaml), "
        "selected on val_loss"),
    # The shipped small-data space as a user runs it: the data file and nothing else (its base
    # config, configs/tsc.yaml, already says device auto and checkpoint_metric val_loss). Sized
    # to the data (task_setup). --smoke: 2 folds instead of the 5 of configs/tsc.yaml.
    "tsc": Task(
        ROOT / "search_spaces" / "tsc.yaml",
        ("data.source=npz", f"data.path={JAPANESE_VOWELS}"),
        "val_loss", "test_accuracy", ("data.cv_folds=2",),
        "JapaneseVowels (official split) with search_spaces/tsc.yaml as shipped (sized to the "
        "data, 5-fold CV), selected on val_loss"),
}


@dataclass(frozen=True)
class Setup:
    """A task as every method runs it: space, loaded base config, epochs, rungs, direction."""

    name: str
    task: Task
    space: object  # tuning.space.SearchSpace (sized to the data: size_to_data)
    cfg: object  # core.config.Config: the base config with the task's (and --set) overrides
    #              (and data.cv_folds as sized)
    overrides: tuple[str, ...]  # what was applied to the space's base config, in order
    max_epochs: int
    grace: int
    rf: int
    mode: str  # "max" or "min": the direction of task.metric


def task_setup(name: str, smoke: bool = False, sets: tuple[str, ...] | list[str] = ()) -> Setup:
    """The task ``name`` (a key of ``TASKS``) with ``sets`` (KEY=VALUE) applied after the task's
    own overrides and, with ``smoke``, the tiny data and 4 epochs (rungs 1, 2) of a CPU test.
    A space with ``size_to_data: true`` is sized to the data (not with ``smoke``) as the sweep's
    pre-flight sizes it (``tuning.driver.size_to_data``; keys given in ``sets`` are kept).

    Raises:
        SystemExit: an unknown task, or a metric the task's base config does not produce.
        ConfigError: a bad override (names the key).
        DataError: a space sized to its data whose data cannot be read.
    """
    if name not in TASKS:
        raise SystemExit(f"--task: unknown task {name!r} (known: {', '.join(TASKS)})")
    task = TASKS[name]
    overrides = (*task.overrides, *sets, *(task.smoke if smoke else ()))
    try:  # every method selects on task.metric, as a's sweep with --metric does
        space = load_space(task.space, overrides, task.metric)
    except ConfigError as exc:
        if exc.source != "--metric":
            raise
        raise SystemExit(f"--task {name}: {exc.problems[0][1]}") from None
    cfg = load_config(space.base_config, list(overrides))
    if space.settings.size_to_data and not smoke:
        space, cfg = _sized(space, cfg, overrides)
    max_epochs = 4 if smoke else space.max_epochs
    grace, rf = (1, 2) if smoke else (space.grace_period, space.reduction_factor)
    return Setup(name, task, space, cfg, overrides, max_epochs, grace, rf,
                 direction(cfg.task.type, task.metric))


def _sized(space, cfg, overrides: tuple[str, ...]):
    """``space`` and ``cfg`` sized to the data as the sweep's pre-flight sizes them
    (``tuning.driver.size_to_data`` on the spec's form: the space file as read, the base config
    as a dict), the space rebuilt from its edited file form (``tuning.space.edited``)."""
    raw = copy.deepcopy(space.raw)
    raw["base_config"] = str(space.base_config)
    spec = {"space": raw, "base": config_to_dict(cfg)}
    size_to_data(spec, list(overrides), None)
    return edited(space, raw), config_from_dict(spec["base"], str(space.base_config))


def better(mode: str):
    """``max`` for a metric that improves upwards, else ``min``."""
    return max if mode == "max" else min


def setup_of(args) -> Setup:
    """The task of the command line ``args`` (``--task``, ``--smoke``, ``--set``)."""
    return task_setup(args.task, args.smoke, args.sets)


def confirm_text(confirm: tuple[int, int]) -> str:
    """``--confirm`` as typed: ``K,S``, or ``0`` for off."""
    return ",".join(map(str, confirm)) if confirm[0] else "0"


def child_flags(args) -> list[str]:
    """The options a child process of the command needs to run the same task."""
    out = ["--task", args.task, "--budget", str(args.budget), "--slack", str(args.slack),
           "--workers", str(args.workers), "--confirm", confirm_text(args.confirm),
           *(["--confirm-share", str(args.confirm_share)] if args.confirm_share else []),
           *(["--trials", str(args.trials)] if args.trials else [])]
    for s in args.sets:
        out += ["--set", s]
    return out + (["--smoke"] if args.smoke else [])
