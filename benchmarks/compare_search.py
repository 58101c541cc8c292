"""Search quality per GPU-hour: this project's sweep against what users would otherwise run.

    python benchmarks/compare_search.py --out runs/compare [--task default|hard|japanese_vowels]
        [--budget 90] [--seeds 0,1,2] [--methods a,b,c,d] [--confirm 3,2] [--retrain-seeds 100,101]
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
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from core.cli import (  # noqa: E402
    int_at_least,
    int_list,
    name_list,
    non_negative_seconds,
    positive_seconds,
)
from core.config import config_to_dict, load_config  # noqa: E402
from tuning.confirm import confirm_arg  # noqa: E402
from tuning.space import load_space  # noqa: E402
from tuning.space_optuna import compile_space  # noqa: E402

__all__ = ["HARD", "METHODS", "TASKS", "Setup", "Task", "analyse", "confirm_share",
           "final_choices", "main", "reach", "retrain_dir", "task_setup", "target_method",
           "timeline"]

SPACE = ROOT / "search_spaces" / "gru.yaml"
METHODS = {"a": "this sweep (defaults, confirmed)", "b": "Ray Tune OptunaSearch + ASHA",
           "c": "Ray Tune random, full length", "d": "Optuna TPE + SH pruner, processes"}
SLACK_S = 15.0  # default --slack: b, c, d run this long past the budget; the analysis cuts there
A_TRIALS_PER_GPU = 8  # a's packing on every task: search_spaces/gru.yaml's shipped value
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
WORST = {"max": 0.0, "min": 1.0e9}  # the score of a trial whose loss became NaN/inf


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
         f"data.path={ROOT / 'tests' / 'data' / 'japanese_vowels.npz'}"),
        "val_loss", "test_accuracy", (),
        "JapaneseVowels (official split; benchmarks/real/japanese_vowels_space.yaml), "
        "selected on val_loss"),
}


@dataclass(frozen=True)
class Setup:
    """A task as every method runs it: space, loaded base config, epochs, rungs, direction."""

    name: str
    task: Task
    space: object  # tuning.space.SearchSpace
    cfg: object  # core.config.Config: the base config with the task's (and --set) overrides
    overrides: tuple[str, ...]  # what was applied to the space's base config, in order
    max_epochs: int
    grace: int
    rf: int
    mode: str  # "max" or "min": the direction of task.metric


def task_setup(name: str, smoke: bool = False, sets: tuple[str, ...] | list[str] = ()) -> Setup:
    """The task ``name`` (a key of ``TASKS``) with ``sets`` (KEY=VALUE) applied after the task's
    own overrides and, with ``smoke``, the tiny data and 4 epochs (rungs 1, 2) of a CPU test.

    Raises:
        SystemExit: an unknown task, or a metric the task's base config does not produce.
        ConfigError: a bad override (names the key).
    """
    from core.tasks import metrics_for

    if name not in TASKS:
        raise SystemExit(f"--task: unknown task {name!r} (known: {', '.join(TASKS)})")
    task = TASKS[name]
    space = load_space(task.space)
    overrides = (*task.overrides, *sets, *(task.smoke if smoke else ()))
    cfg = load_config(space.base_config, list(overrides))
    known = metrics_for(cfg.task.type)
    if task.metric not in known:
        raise SystemExit(f"--task {name}: {cfg.task.type} tasks do not produce {task.metric}")
    max_epochs = 4 if smoke else space.max_epochs
    grace, rf = (1, 2) if smoke else (space.grace_period, space.reduction_factor)
    return Setup(name, task, space, cfg, overrides, max_epochs, grace, rf, known[task.metric])


def _setup(args) -> Setup:
    return task_setup(args.task, args.smoke, args.sets)


def _better(mode: str):
    return max if mode == "max" else min


# ---------------------------------------------------------------------------------------------
# Trial bodies for b, c and d (a runs its own trainable)

def _train(base: dict, params: dict, max_epochs: int, data, on_epoch, metric: str,
           mode: str) -> float:
    """Trains one configuration; ``on_epoch(metrics, first_step_wall)`` after every epoch.
    Returns the best epoch's ``metric``."""
    import torch

    from core.loop import fit
    from tuning.trial_config import trial_config

    entry = time.time()
    cfg = trial_config(base, params, max_epochs, "compare_search")
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    scores: list[float] = []

    def reporter(metrics, _write_checkpoint):
        scores.append(metrics[metric])
        on_epoch(metrics, entry + metrics["setup_s"])

    fit(cfg, data, reporter=reporter, device=device)
    return _better(mode)(scores)


class _Define:
    """The compiled define-by-run space in a picklable form (Tune checkpoints its searcher)."""

    def __init__(self, params):
        self.params = params

    def __call__(self, trial):
        return compile_space(self.params)(trial)


def _ray_method(method: str, seed: int, args, out: Path) -> None:
    import optuna
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from core.data import load_data
    from core.errors import NonFiniteLossError

    st = _setup(args)
    metric, mode = st.task.metric, st.mode
    base, data = config_to_dict(st.cfg), load_data(st.cfg.data, st.cfg.task)

    def trainable(config, data=None):
        def on_epoch(metrics, first_step):
            tune.report({**metrics, "reported_at": time.time(), "first_step_at": first_step})

        try:
            _train(base, config, st.max_epochs, data, on_epoch, metric, mode)
        except NonFiniteLossError:
            tune.report({metric: WORST[mode], "nonfinite": 1, "reported_at": time.time()})

    if method == "b":
        search = OptunaSearch(space=_Define(st.space.params), metric=metric, mode=mode, seed=seed)
        scheduler = ASHAScheduler(metric=metric, mode=mode, max_t=st.max_epochs,
                                  grace_period=st.grace, reduction_factor=st.rf)
    else:
        search = OptunaSearch(space=_Define(st.space.params), metric=metric, mode=mode,
                              sampler=optuna.samplers.RandomSampler(seed=seed))
        scheduler = None
    ray.init(address="local", logging_level="WARNING",
             **({"num_cpus": 2} if args.smoke else {}))
    gpus = int(ray.cluster_resources().get("GPU", 0))
    resources = {"cpu": 1, "gpu": 1} if gpus else {"cpu": 1}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data), resources),
        tune_config=tune.TuneConfig(search_alg=search, scheduler=scheduler, num_samples=100000,
                                    time_budget_s=args.budget + args.slack),
        run_config=tune.RunConfig(name="ray", storage_path=str(out), verbose=0))
    grid = tuner.fit()
    trials = []
    for result in grid:
        df = result.metrics_dataframe
        if df is None or "reported_at" not in df or "first_step_at" not in df:
            continue
        df = df[df["first_step_at"].notna()]
        if df.empty:
            continue
        trials.append({"first_step": float(df["first_step_at"].iloc[0]),
                       "reports": [float(t) for t in df["reported_at"]],
                       "scores": [float(v) for v in df[metric]],
                       "params": _ray_params(df.iloc[0])})
    uncut = None
    try:  # the tool's own answer over the whole run (slack included), for the record
        uncut = dict(grid.get_best_result(metric=metric, mode=mode).config)
    except (RuntimeError, ValueError):
        pass
    ray.shutdown()
    _write(out, trials, st, {"tool_choice_uncut": uncut})


def _ray_params(row) -> dict:
    params = {k[len("config/"):]: v.item() if hasattr(v, "item") else v
              for k, v in row.items() if str(k).startswith("config/")}
    return {k: v for k, v in params.items() if v == v}  # NaN: a conditional left out


def _optuna_worker(journal: Path, seed: int, args) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from core.data import load_data
    from core.errors import NonFiniteLossError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = _setup(args)
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
            return _train(base, params, st.max_epochs, data, on_epoch, metric, mode)
        except NonFiniteLossError:
            return WORST[mode]

    study.optimize(objective, timeout=timeout)


def _optuna_method(seed: int, args, out: Path) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    st = _setup(args)
    journal = out / "journal.log"
    storage = JournalStorage(JournalFileBackend(str(journal)))
    optuna.create_study(study_name="d", storage=storage,
                        direction="maximize" if st.mode == "max" else "minimize")
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(journal),
                               "--seed", str(seed * 100 + r), *_flags(args)], cwd=ROOT)
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
    _write(out, trials, st, {"tool_choice_uncut": uncut})


def _write(out: Path, trials: list[dict], st: Setup, extra: dict | None = None) -> None:
    summary = {"max_epochs": st.max_epochs, "launched": float(os.environ["COMPARE_LAUNCHED"]),
               "ended": time.time(), "task": st.name, "metric": st.task.metric, "mode": st.mode,
               "trials": trials, **(extra or {})}
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary))
    tmp.replace(out / "summary.json")  # whole or absent: the analysis reads it as the run's end


def _ours(seed: int, args, out: Path) -> None:
    st = _setup(args)
    raw = copy.deepcopy(st.space.raw)
    # Every method runs the full space: no cpu: section (it would shrink a's space on a CPU).
    raw.pop("cpu", None)
    raw["base_config"] = str(st.space.base_config)
    raw["num_samples"] = 100000
    raw["sampler"] = {**(raw.get("sampler") or {}), "seed": seed}
    raw["resources"] = {**(raw.get("resources") or {}), "trials_per_gpu": A_TRIALS_PER_GPU}
    if args.smoke:
        raw.update(max_epochs=4, scheduler={"grace_period": 1, "reduction_factor": 2})
        raw["resources"] = {**raw["resources"], "trials_per_gpu": 1}
    top_k, seeds = args.confirm
    if top_k:
        raw["confirm"] = {"top_k": top_k, "seeds": seeds,
                          "budget_share": confirm_share(args.budget + args.slack,
                                                        args.confirm_share)}
    else:
        raw.pop("confirm", None)
    path = out / "space.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    # The sweep's clock starts before Ray does, so its time budget (search and confirmation
    # together) gets the slack too: its final choice then lands near the budget after its first
    # step (the table's "final choice at"); the analysis cuts the search curve at the budget.
    cmd = [sys.executable, "-m", "tuning.sweep", "--space", str(path), "--storage-path",
           str(out), "--name", "sweep", "--time-budget", str(args.budget + args.slack),
           "--metric", st.task.metric]
    for o in st.overrides:
        cmd += ["--set", o]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    (out / "sweep-driver.log").write_text(proc.stdout[-200_000:] + proc.stderr[-200_000:])
    if proc.returncode != 0:
        raise SystemExit(f"sweep exited {proc.returncode}: {proc.stderr[-3000:]}")
    from tuning.results import histories, started_config

    exp = out / "sweep"
    trials = []
    for key, history in histories(exp).items():
        rows = [r for r in history if "reported_at" in r]
        config = started_config(exp, key)
        if not rows or config is None:
            continue
        trials.append({"first_step": config["suggested_at"] + rows[0]["launch_to_first_step_s"],
                       "reports": [r["reported_at"] for r in rows],
                       "scores": [r[st.task.metric] for r in rows],
                       "params": config["params"]})
    _write(out, trials, st, _sweep_choices(exp, st, trials, top_k))


CONFIRM_NEEDS_S = 25.0  # one GPU: Ray's restart, worker start and one packed wave of K x S runs


def confirm_share(time_budget: float, given: float | None) -> float:
    """The share of a's ``--time-budget`` kept for confirmation: ``given``, or by default
    ``CONFIRM_NEEDS_S`` of it, at least the shipped 0.2 and at most half.

    The sweep gives confirmation what is left of its budget after the search's Tune run, Ray's
    start and its shutdown; the confirmation then starts Ray again and trains every run to full
    length, so a short budget needs a larger share for any run to finish.

    Example:
        >>> [confirm_share(t, None) for t in (40, 100, 300)], confirm_share(100, 0.3)
        ([0.5, 0.25, 0.2], 0.3)
    """
    if given is not None:
        return given
    return min(0.5, max(0.2, CONFIRM_NEEDS_S / time_budget))


def _sweep_choices(exp: Path, st: Setup, trials: list[dict], top_k: int) -> dict:
    """a's final choice (the confirmed winner), its search-phase best (what ``tuning.export``
    picks without confirmation: the best epoch over COMPLETE and PRUNED trials) and the
    confirmation's candidates and timings, from the sweep's files."""
    from tuning.confirm import read_confirmation
    from tuning.experiment import trial_key
    from tuning.results import best_trial, trial_history
    from tuning.study import load_study

    own = [t for t in load_study(exp).get_trials(deepcopy=False)
           if "warm_start_from" not in t.user_attrs]
    best = best_trial(own, st.mode)
    search_best = None if best is None else {
        "trial": trial_key(best.number), "params": best.user_attrs.get("params") or
        dict(best.params), "score": _better(st.mode)(best.intermediate_values.values())}
    summary = read_confirmation(exp) if top_k else None
    confirm = {"top_k": top_k, "ran": summary is not None}
    final = None
    if summary is not None:
        cands = summary["candidates"]
        confirm.update(winner=summary["winner"], seeds=summary["seeds"], candidates=[
            {k: c.get(k) for k in ("trial", "search_score", "n", "mean", "sd", "low", "high",
                                   "test_mean")} for c in cands])
        reports = [r for c in cands for run in c["runs"]
                   for r in trial_history(exp, run["trial"]) if "reported_at" in r]
        search_end = max((t["reports"][-1] for t in trials), default=None)
        end = max((r["reported_at"] for r in reports), default=time.time())
        confirm.update(epochs=len(reports), search_end=search_end, end=end)
        if summary["winner"] is not None:
            w = cands[summary["winner"]]
            final = {"source": "confirmed winner", "trial": w["trial"], "params": w["params"],
                     "confirmed_mean": w["mean"]}
    if final is None and search_best is not None:
        why = "confirmation off" if not top_k else \
            "no confirmation run finished" if summary is not None else "confirmation skipped"
        final = {**search_best, "source": f"search-phase best ({why})"}
    return {"final_choice": final, "search_best": search_best, "confirmation": confirm}


# ---------------------------------------------------------------------------------------------
# Orchestration

def _flags(args) -> list[str]:
    """The options a child process of this script needs to run the same task."""
    out = ["--task", args.task, "--budget", str(args.budget), "--slack", str(args.slack),
           "--workers", str(args.workers), "--confirm", _confirm_text(args.confirm),
           *(["--confirm-share", str(args.confirm_share)] if args.confirm_share else [])]
    for s in args.sets:
        out += ["--set", s]
    return out + (["--smoke"] if args.smoke else [])


def _confirm_text(confirm: tuple[int, int]) -> str:
    return ",".join(map(str, confirm)) if confirm[0] else "0"


def run_one(method: str, seed: int, args) -> None:
    out = (args.out / f"{method}-s{seed}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["COMPARE_LAUNCHED"] = str(time.time())
    if method == "a":
        _ours(seed, args, out)
    elif method in ("b", "c"):
        _ray_method(method, seed, args, out)
    else:
        _optuna_method(seed, args, out)


class _Clock:
    """Wall time since the command started, for progress lines and the deadline."""

    def __init__(self, deadline: float | None):
        self.t0, self.deadline = time.monotonic(), deadline

    def now(self) -> float:
        return time.monotonic() - self.t0

    def say(self, text: str) -> None:
        print(f"[{self.now():6.0f} s] {text}", flush=True)

    def fits(self, seconds: float) -> bool:
        return self.deadline is None or self.now() + seconds <= self.deadline


def _estimate(method: str, args, seen: dict[str, float]) -> float:
    """Seconds a run of ``method`` will take: the longest seen so far, else a guess (start-up,
    budget, slack, drain)."""
    if method in seen:
        return seen[method]
    startup = {"a": 40.0, "b": 40.0, "c": 40.0, "d": 15.0, "retrain": 60.0}[method]
    if method == "retrain":
        return startup
    return startup + args.budget + args.slack + 10


def _write_manifest(args) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip() or None
    manifest = {"task": args.task, "budget": args.budget, "slack": args.slack,
                "seeds": args.seeds, "methods": args.methods,
                "confirm": list(args.confirm),
                "confirm_share": confirm_share(args.budget + args.slack, args.confirm_share),
                "retrain_seeds": args.retrain_seeds, "sets": args.sets, "smoke": args.smoke,
                "workers": args.workers, "commit": commit,
                "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    (args.out / "run.json").write_text(json.dumps(manifest, indent=1) + "\n")


def run_all(args) -> None:
    """Every method and seed (seed by seed), each seed's retrains, and the analysis after each
    seed. Runs whose summary.json exists are kept, not run again."""
    import torch

    from benchmarks.gpu_util import GpuUtilisation

    clock = _Clock(args.deadline)
    _write_manifest(args)
    gpus = torch.cuda.device_count()
    methods = args.methods
    side_by_side = gpus >= len(methods) > 1
    seen: dict[str, float] = {}
    clock.say(f"task {args.task}, methods {','.join(methods)}, seeds "
              f"{','.join(map(str, args.seeds))}, budget {args.budget:g} s, {gpus} GPU(s)"
              + (f", deadline {args.deadline:g} s" if args.deadline else ""))
    for seed in args.seeds:
        todo = [m for m in methods if not (args.out / f"{m}-s{seed}" / "summary.json").exists()]
        for m in sorted(set(methods) - set(todo)):
            clock.say(f"seed {seed} {m}: kept (summary.json exists)")
        batches = [todo] if side_by_side else [[m] for m in todo]
        for batch in [b for b in batches if b]:
            need = max(_estimate(m, args, seen) for m in batch)
            if not clock.fits(need):
                clock.say(f"seed {seed} {','.join(batch)}: skipped, the deadline "
                          f"{args.deadline:g} s leaves too little for ~{need:.0f} s")
                continue
            procs, utils, started = {}, {}, time.monotonic()
            for i, m in enumerate(batch):
                run_dir = args.out / f"{m}-s{seed}"
                if run_dir.exists():
                    shutil.rmtree(run_dir)  # an unfinished earlier attempt: start afresh
                gpu = i if side_by_side else 0
                env = {**os.environ, "PYTHONUNBUFFERED": "1"}
                if gpus:
                    env["CUDA_VISIBLE_DEVICES"] = str(gpu)
                utils[m] = GpuUtilisation(gpu=gpu if gpus else None).start()
                log = open(args.out / f"{m}-s{seed}.log", "w")
                procs[m] = subprocess.Popen(
                    [sys.executable, __file__, "--run", m, "--seed", str(seed), "--out",
                     str(args.out), *_flags(args)],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
                clock.say(f"seed {seed} {m}: started ({METHODS[m]})")
            for m, p in procs.items():
                code = p.wait()
                utils[m].stop()
                took = time.monotonic() - started
                seen[m] = max(seen.get(m, 0.0), took)
                summary_path = args.out / f"{m}-s{seed}" / "summary.json"
                if code != 0 or not summary_path.exists():
                    clock.say(f"seed {seed} {m}: FAILED (exit {code}) after {took:.0f} s; see "
                              f"{args.out / f'{m}-s{seed}.log'}")
                    continue
                summary = json.loads(summary_path.read_text())
                summary["util_samples"] = utils[m].samples
                _write_json(summary_path, summary)
                clock.say(f"seed {seed} {m}: done in {took:.0f} s, {len(summary['trials'])} "
                          "trials")
        if not args.no_retrain:
            need = _estimate("retrain", args, seen)
            if clock.fits(need):
                started = time.monotonic()
                n = retrain(args, seeds=[seed], say=clock.say)
                seen["retrain"] = max(seen.get("retrain", 0.0), time.monotonic() - started)
                clock.say(f"seed {seed}: {n} retrain(s) in {time.monotonic() - started:.0f} s")
            else:
                clock.say(f"seed {seed}: retrains skipped, the deadline leaves too little for "
                          f"~{need:.0f} s")
        try:
            analyse(args, quiet=True)
            clock.say(f"seed {seed}: analysis written ({args.out / 'table.md'}, results.json)")
        except SystemExit as exc:
            clock.say(f"seed {seed}: no analysis yet: {exc}")


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj))
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------
# Analysis

def timeline(summary: dict, budget: float) -> dict:
    """Per-run facts within the budget, on a clock that starts at the first training step.

    ``summary``: a run's summary.json (``trials`` non-empty; ``mode`` "max" unless given).
    Returns start-up (s), the best-so-far curve [(s, score)] of full-length trials, ``final``
    (the best full-length score by the budget, None without one), configs started, full-length
    trials, epochs reported, their best configuration's params and the mean GPU utilisation.
    """
    trials = summary["trials"]
    sign = 1.0 if summary.get("mode", "max") == "max" else -1.0
    origin = min(t["first_step"] for t in trials)
    full = []
    epochs = 0
    for t in trials:
        inside = [r for r in t["reports"] if r - origin <= budget]
        epochs += len(inside)
        if len(t["reports"]) >= summary["max_epochs"] and \
                t["reports"][summary["max_epochs"] - 1] - origin <= budget:
            best = max(t["scores"], key=lambda v: sign * v)
            full.append((t["reports"][summary["max_epochs"] - 1] - origin, best, t))
    full.sort(key=lambda x: x[0])
    curve, best, best_trial = [], None, None
    for when, score, t in full:
        if best is None or sign * score > sign * best:
            best, best_trial = score, t
            curve.append((when, score))
    util = [v for w, v in summary.get("util_samples", []) if origin <= w <= origin + budget]
    ended = summary.get("ended")
    return {"startup": origin - summary["launched"], "curve": curve, "final": best,
            "configs": sum(1 for t in trials if t["first_step"] - origin <= budget),
            "full": len(full), "epochs": epochs, "best_params": best_trial and
            best_trial["params"], "util": statistics.fmean(util) if util else None,
            "covered": None if ended is None else ended - origin, "origin": origin,
            "last_report": max(t["reports"][-1] for t in trials if t["reports"]) - origin}


def final_choices(method: str, summary: dict, budget: float) -> dict[str, dict | None]:
    """What each method keeps at the end of its budget, by its own documented rule, applied to
    what it had reported by ``budget`` seconds after its first training step:

    - a: the sweep's confirmed winner (``best_config.yaml``), and its search-phase best (what
      ``tuning.export`` keeps without confirmation), both recorded by the run;
    - b, c: Ray Tune's ``ResultGrid.get_best_result(metric, mode)`` (scope "last"): the trial
      whose last reported score is best, ASHA-stopped trials included;
    - d: Optuna's ``study.best_trial``: the COMPLETE trial with the best value (its best epoch;
      pruned and unfinished trials are not COMPLETE).

    Returns ``{"final": {"params", ...} or None}`` plus, for a, ``"search_best"``.
    """
    if method == "a" and (summary.get("confirmation") or {}).get("top_k"):
        return {"final": summary.get("final_choice"), "search_best": summary.get("search_best")}
    trials = summary["trials"]
    if not trials:
        return {"final": None}
    sign = 1.0 if summary.get("mode", "max") == "max" else -1.0
    origin = min(t["first_step"] for t in trials)
    picked = None
    for t in trials:
        scores = [s for r, s in zip(t["reports"], t["scores"], strict=True)
                  if r - origin <= budget and s == s and abs(s) != float("inf")]
        if not scores:
            continue
        if method == "a":  # without confirmation: tuning.export's best trial (best epoch)
            value = max(scores, key=lambda v: sign * v)
        elif method == "d":
            done = t.get("state", "COMPLETE") == "COMPLETE" and \
                len(t["reports"]) >= summary["max_epochs"] and \
                t["reports"][-1] - origin <= budget
            if not done:
                continue
            value = t.get("value")
            value = max(scores, key=lambda v: sign * v) if value is None else value
        else:
            value = scores[-1]
        if picked is None or sign * value > sign * picked[0]:
            picked = (value, t)
    if picked is None:
        return {"final": None, **({"search_best": None} if method == "a" else {})}
    source = {"a": "best trial (tuning.export, no confirmation)", "b": "get_best_result "
              "(scope last)", "c": "get_best_result (scope last)", "d": "study.best_trial"}
    final = {"params": picked[1]["params"], "score": picked[0], "source": source[method]}
    return {"final": final, **({"search_best": final} if method == "a" else {})}


def reach(curve, target: float, mode: str = "max") -> float | None:
    """The first time the best-so-far ``curve`` [(s, score)] reaches ``target``, or None."""
    return next((t for t, v in curve if (v >= target if mode == "max" else v <= target)), None)


def _fmt(values, spec=".3f", none="-", missing="missing") -> str:
    """Median (min-max) of the values that are not None, and how many are None."""
    vals = [v for v in values if v is not None]
    if not vals:
        return none
    med = statistics.median(vals)
    miss = len(values) - len(vals)
    mid = f"{med:g}" if spec == "d" else f"{med:{spec}}"  # an even count's median may be x.5
    sep = " to " if min(vals) < 0 or spec[0] == "+" else "-"  # "-0.02 to +0.01", not "-0.02-+0.01"
    text = f"{mid} ({min(vals):{spec}}{sep}{max(vals):{spec}})"
    return text + (f", {miss} {missing}" if miss else "")


def _stats(values) -> dict:
    vals = [v for v in values if v is not None]
    return {"median": statistics.median(vals) if vals else None,
            "min": min(vals) if vals else None, "max": max(vals) if vals else None,
            "n": len(vals), "missing": len(values) - len(vals), "values": list(values)}


def target_method(runs: dict[str, list[dict]], mode: str = "max") -> tuple[str, str]:
    """Which method's median final result is the target, and why: c (random search, every trial
    to full length) when it ran; else the best available baseline (b or d, by median final);
    else, with no baseline at all, the best method that ran.

    Raises:
        SystemExit: no method has runs with a full-length trial.
    """
    runs = {m: rs for m, rs in runs.items() if any(r["final"] is not None for r in rs)}
    if not runs:
        raise SystemExit("no runs to analyse: run the methods first, or check --out")
    if "c" in runs:
        return "c", "c"
    median = {m: statistics.median(r["final"] for r in rs if r["final"] is not None)
              for m, rs in runs.items()}
    baselines = [m for m in runs if m in ("b", "d")] or list(runs)
    best = _better(mode)(baselines, key=median.get)
    kind = "the best available baseline" if best in ("b", "d") else "no baseline ran; the best"
    return best, f"{best} ({kind}: c was not run)"


def retrain_dir(run_dir: Path, params: dict, seed: int) -> Path:
    """Where the retrain of ``params`` on ``seed`` lives in a run's directory: named by a digest
    of the parameters, so a choice two rules share (a's winner and search-phase best) trains
    once, and a changed choice never reads another's result."""
    digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    return run_dir / f"retrain-{digest[:10]}-s{seed}"


def _retrain_tests(run_dir: Path, choice: dict | None, test_metric: str,
                   seeds: list[int] | None) -> list[float]:
    """The held-out test metric of ``choice`` retrained in ``run_dir``, one per seed found."""
    if not choice or choice.get("params") is None:
        return []
    out = []
    prefix = retrain_dir(run_dir, choice["params"], 0).name.rsplit("-s", 1)[0]
    for path in sorted(run_dir.glob(f"{prefix}-s*/summary.json")):
        seed = int(path.parent.name.rsplit("-s", 1)[1])
        if seeds is not None and seed not in seeds:
            continue
        try:
            test = json.loads(path.read_text()).get("test") or {}
        except ValueError:
            continue
        if test.get(test_metric) is not None:
            out.append(float(test[test_metric]))
    return out


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _load_runs(args, budget: float, notes: list[str]) -> tuple[dict, dict]:
    """Every readable run under ``args.out``, by method; and what the runs say of the task."""
    runs: dict[str, list[dict]] = {}
    facts: dict = {}
    for m in args.methods:
        for path in sorted(args.out.glob(f"{m}-s*/summary.json"),
                           key=lambda p: int(p.parent.name.split("-s")[1])):
            seed = int(path.parent.name.split("-s")[1])
            try:
                summary = json.loads(path.read_text())
            except ValueError:
                notes.append(f"{m} seed {seed}: unreadable summary.json, left out")
                continue
            if not summary["trials"]:
                notes.append(f"{m} seed {seed}: trained no trial, left out (raise --budget)")
                continue
            for key in ("task", "metric", "mode"):
                facts.setdefault(key, summary.get(key))
            tl = timeline(summary, budget)
            tl.update(seed=seed, choices=final_choices(m, summary, budget),
                      confirmation=summary.get("confirmation"))
            # (a with confirmation ends inside its budget by design: its clock starts earlier)
            if m != "a" and tl["covered"] is not None and tl["covered"] < budget:
                notes.append(f"{m} seed {seed}: the run ended {tl['covered']:.0f} s after its "
                             f"first step, before the {budget:g} s budget (raise --slack)")
            runs.setdefault(m, []).append(tl)
    return runs, facts


def _score_run(m: str, r: dict, run_dir: Path, budget: float, target: float, mode: str,
               test_metric: str, retrain_seeds, notes: list[str]) -> dict:
    """One run's row of results.json: its choices' retrained test metrics, a's confirmation
    gain and share, when the final choice was made, and the timeline's facts."""
    final, sb = r["choices"].get("final"), r["choices"].get("search_best")
    test_final = _mean(_retrain_tests(run_dir, final, test_metric, retrain_seeds))
    test_sb = _mean(_retrain_tests(run_dir, sb, test_metric, retrain_seeds)) if m == "a" else None
    if final is None:
        notes.append(f"{m} seed {r['seed']}: no final choice by the budget")
    elif test_final is None:
        notes.append(f"{m} seed {r['seed']}: final choice not retrained")
    c = r.get("confirmation") or {}
    share, final_at = None, budget  # the peers' choices are taken at the cut
    if m == "a" and c.get("top_k"):
        final_at = r["last_report"]  # the search's end, unless confirmation ran
        if not c.get("ran") or c.get("winner") is None:
            notes.append(f"a seed {r['seed']}: no confirmation run finished inside the budget; "
                         "the final choice is the search-phase best (raise --confirm-share)")
    if m == "a" and c.get("ran") and c.get("search_end") is not None:
        final_at = c["end"] - r["origin"]
        share = (c["end"] - c["search_end"]) / final_at if final_at > 0 else None
    return {"method": m, "seed": r["seed"], "test_final": test_final, "test_search_best": test_sb,
            "confirmation_gain": None if test_final is None or test_sb is None else
            test_final - test_sb, "confirmation_share": share, "final_at": final_at,
            "best_val": r["final"], "time_to_target": reach(r["curve"], target, mode),
            "startup": r["startup"], "configs": r["configs"], "full_length": r["full"],
            "epochs": r["epochs"], "gpu_util": r["util"], "covered_s": r["covered"],
            "final_choice": final, "search_best": sb if m == "a" else None,
            "confirmation": c or None}


# results.json's per-method columns: (key, table format); a's own columns only for a.
COLUMNS = (("test_final", ".4f"), ("test_search_best", ".4f"), ("confirmation_share", "%"),
           ("final_at", ".0f"), ("best_val", ".4f"), ("time_to_target", ".0f"),
           ("startup", ".1f"), ("configs", "d"), ("full_length", "d"), ("epochs", "d"),
           ("gpu_util", ".0f"))
A_ONLY = ("test_search_best", "confirmation_share", "confirmation_gain")


def analyse(args, quiet: bool = False) -> dict:
    """The table (``table.md``), ``results.json`` and ``anytime.png`` from whatever runs and
    retrains are in ``args.out``; missing seeds, methods and retrains are left out and listed.
    Returns what results.json holds.

    Raises:
        SystemExit: no run with a full-length trial.
    """
    manifest = {}
    if (args.out / "run.json").exists():
        manifest = json.loads((args.out / "run.json").read_text())
    budget = args.budget if args.budget is not None else manifest.get("budget", 90.0)
    notes: list[str] = []
    runs, facts = _load_runs(args, budget, notes)
    mode = facts.get("mode") or "max"
    metric = facts.get("metric") or "val_accuracy"
    task = facts.get("task") or manifest.get("task") or "default"
    test_metric = TASKS[task].test_metric if task in TASKS else "test_accuracy"
    retrain_seeds = args.retrain_seeds if getattr(args, "retrain_seeds_given", False) else None
    target_m, target_name = target_method(runs, mode)
    target = statistics.median(r["final"] for r in runs[target_m] if r["final"] is not None)
    rows = {m: [_score_run(m, r, args.out / f"{m}-s{r['seed']}", budget, target, mode,
                           test_metric, retrain_seeds, notes) for r in rs]
            for m, rs in runs.items()}
    keys = [k for k, _ in COLUMNS] + ["confirmation_gain"]
    methods_json = {m: {"name": METHODS[m], "seeds": [r["seed"] for r in rs],
                        **{k: _stats([r[k] for r in rs]) for k in keys
                           if m == "a" or k not in A_ONLY}}
                    for m, rs in rows.items()}
    confirm = _confirm_text(tuple(manifest.get("confirm") or (0, 0)))
    lines = [f"Task {task}: {TASKS[task].about if task in TASKS else task}. Budget {budget:g} s "
             f"per run after start-up; selection metric {metric} ({mode}); held-out criterion "
             f"{test_metric} of each method's final choice, retrained (mean over the retrain "
             f"seeds of a run); a: --confirm {confirm}; target = median final of {target_name} = "
             f"{target:.4f}. Each cell: median (range) over the seeds run, "
             + "; ".join(f"{m}: {len(rs)} seed{'' if len(rs) == 1 else 's'}"
                         for m, rs in rows.items()) + ".", "",
             f"| method | held-out {test_metric}, final choice | a: search-phase best, retrained "
             "| a: confirmation, % of wall time | final choice at (s) | best "
             f"{metric} at budget (full-length) | time to target (s) | start-up (s) | configs "
             "evaluated | full-length trials | epochs trained | GPU util % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, rs in rows.items():
        cells = []
        for key, spec in COLUMNS:
            values = [r[key] for r in rs] if m == "a" or key not in A_ONLY else []
            if spec == "%":
                cells.append(_fmt([None if v is None else 100 * v for v in values], ".0f"))
            else:
                cells.append(_fmt(values, spec,
                                  missing="never" if key == "time_to_target" else "missing"))
        lines.append(f"| {m}: {METHODS[m]} | " + " | ".join(cells) + " |")
    gains = [r["confirmation_gain"] for r in rows.get("a", [])]
    if any(g is not None for g in gains):
        shares = [100 * r["confirmation_share"] for r in rows["a"]
                  if r["confirmation_share"] is not None]
        lines += ["", f"Confirmation gain (a: confirmed winner minus search-phase best, "
                      f"{test_metric}, same retrain seeds): {_fmt(gains, '+.4f')}; its cost: "
                      f"{_fmt(shares, '.0f')}% of a's wall time (--confirm {confirm})."]
    if notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in notes]
    text = "\n".join(lines)
    if not quiet:
        print(text)
    (args.out / "table.md").write_text(text + "\n")
    results = {"task": task, "budget": budget, "metric": metric, "mode": mode,
               "test_metric": test_metric, "target": {"method": target_m, "value": target},
               "manifest": manifest, "methods": methods_json,
               "runs": [r for rs in rows.values() for r in rs], "notes": notes}
    _write_json(args.out / "results.json", results)
    _plot(runs, target, target_m, budget, metric, args.out, quiet)
    return results


def _plot(runs, target: float, target_m: str, budget: float, metric: str, out: Path,
          quiet: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    colors = {"a": "tab:blue", "b": "tab:orange", "c": "tab:green", "d": "tab:red"}
    for m, rs in runs.items():
        for i, r in enumerate(rs):
            xs = [0.0] + [t for t, _ in r["curve"]] + [budget]
            ys = [None] + [v for _, v in r["curve"]] + [r["curve"][-1][1] if r["curve"] else None]
            pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
            if pts:
                ax.step([x for x, _ in pts], [y for _, y in pts], where="post",
                        color=colors[m], alpha=0.85, lw=1.5,
                        label=f"{m}: {METHODS[m]}" if i == 0 else None)
    ax.axhline(target, color="grey", ls="--", lw=1, label=f"target (median final of {target_m})")
    ax.set_xlim(0, budget)
    ax.set_xlabel("seconds since the first training step")
    ax.set_ylabel(f"best {metric}, full-length trials")
    ax.set_title("Best configuration found so far (one line per seed)")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "anytime.png")
    plt.close(fig)
    if not quiet:
        print(f"plot: {out / 'anytime.png'}")


# ---------------------------------------------------------------------------------------------
# Retraining the final choices

def retrain(args, seeds: list[int] | None = None, say=print) -> int:
    """Each run's final choice (and a's search-phase best, once if it is the same
    configuration), trained standalone with ``core.train`` on every ``--retrain-seeds`` seed and
    scored on the held-out test split; ``--retrain-parallel`` at a time, spread over the GPUs.
    Retrains already on disk are kept. Returns how many ran."""
    import torch

    from tuning.trial_config import trial_config

    gpus = torch.cuda.device_count()
    st = _setup(args)
    base = config_to_dict(st.cfg)
    budget = args.budget
    jobs = []
    for m in args.methods:
        for path in sorted(args.out.glob(f"{m}-s*/summary.json")):
            if seeds is not None and int(path.parent.name.split("-s")[1]) not in seeds:
                continue
            summary = json.loads(path.read_text())
            choices = final_choices(m, summary, budget)
            distinct = {retrain_dir(path.parent, c["params"], 0): c["params"]
                        for c in choices.values() if c and c.get("params") is not None}
            for params in distinct.values():
                for s in args.retrain_seeds:
                    run = retrain_dir(path.parent, params, s)
                    if (run / "summary.json").exists():
                        continue
                    cfg = trial_config(base, {**params, "experiment.seed": s}, st.max_epochs,
                                       str(path))
                    cfg_path = run.with_suffix(".yaml")
                    cfg_path.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
                    jobs.append((cfg_path, run))
    running: list[tuple[subprocess.Popen, Path, object]] = []
    for i, (cfg_path, run) in enumerate(jobs):
        while len(running) >= args.retrain_parallel:
            _reap(running, say)
        if run.exists():
            shutil.rmtree(run)  # an unfinished earlier attempt
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)
        log = open(run.with_suffix(".log"), "w")
        running.append((subprocess.Popen(
            [sys.executable, "-m", "core.train", "--config", str(cfg_path), "--output-dir",
             str(run), "--quiet"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT),
            run, log))
    while running:
        _reap(running, say)
    return len(jobs)


def _reap(running: list, say) -> None:
    """Waits for the oldest retrain; a failed one is reported and left out, not fatal."""
    proc, run, log = running.pop(0)
    code = proc.wait()
    log.close()
    if code != 0:
        say(f"retrain {run.parent.name}/{run.name}: core.train exited {code}; see "
            f"{run.with_suffix('.log')}")


# ---------------------------------------------------------------------------------------------
# Packing the results for a machine that gives back only a few files

PACK_GLOBS = ("run.json", "table.md", "results.json", "anytime.png", "*.log", "*-s*/summary.json",
              "*-s*/retrain-*-s*/summary.json", "*-s*/retrain-*.yaml", "*-s*/retrain-*.log",
              "a-s*/sweep/confirmation.json", "a-s*/sweep/confirmation.csv",
              "a-s*/sweep/trials.csv", "a-s*/sweep/best_config.yaml", "a-s*/sweep/sweep.log",
              "a-s*/sweep-driver.log", "a-s*/space.yaml")


def pack(out: Path, dest: Path) -> None:
    """One ``tar.gz`` of the small files the analysis and the docs need (``PACK_GLOBS``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tar:
        for pattern in PACK_GLOBS:
            for path in sorted(out.glob(pattern)):
                if path.is_file() and path.resolve() != dest.resolve():
                    tar.add(path, arcname=str(path.relative_to(out)))
    print(f"pack: {dest} ({dest.stat().st_size / 1e6:.1f} MB)")


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
                   help="default | hard | japanese_vowels (module docstring)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="base-config override after the task's own, for every method and "
                        "retrain (repeatable)")
    p.add_argument("--budget", type=positive_seconds, default=None,
                   help="seconds per run after start-up (default 90; --analyse: the run's)")
    p.add_argument("--slack", type=non_negative_seconds, default=SLACK_S,
                   help="seconds b, c and d run past the budget (the analysis cuts at it)")
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
        return _optuna_worker(args.worker, args.seed, args)
    if args.run is not None:
        return run_one(args.run, args.seed, args)
    _setup(args)  # a bad task or override stops here, before anything runs
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
