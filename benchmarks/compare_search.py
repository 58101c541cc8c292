"""Search quality per GPU-hour: this project's sweep against what users would otherwise run.

    python benchmarks/compare_search.py --out runs/compare [--budget 90] [--seeds 0,1,2]
        [--methods a,b,c,d] [--retrain-seeds 100,101]
    python benchmarks/compare_search.py --out runs/compare --analyse   (table and plot only)
    python benchmarks/compare_search.py --out runs/compare --smoke     (tiny CPU run, seconds)

Methods, same task (the default data set and ``search_spaces/gru.yaml``'s space and epochs), same
training code (``core.loop.fit``), same wall-clock budget after each system's start-up:

- a: ``python -m tuning.sweep`` with the shipped defaults (TPE, ASHA, truthful pruned trials,
  ``trials_per_gpu`` packing with MPS);
- b: stock Ray Tune as documented: ``OptunaSearch`` (TPE, its defaults) + ``ASHAScheduler`` with
  the same rungs, one trial per GPU, Ray's own bookkeeping of stopped trials;
- c: Ray Tune random search (Optuna's RandomSampler through ``OptunaSearch``, since the space has
  conditional parameters), every trial trained to full length, one trial per GPU;
- d: Optuna alone: ``TPESampler`` + ``SuccessiveHalvingPruner`` with the same rungs, ``--workers``
  processes sharing a ``JournalStorage`` file (Optuna's recipe for parallel runs), each with its
  own sampler seed.

Each run writes ``<out>/<method>-s<seed>/summary.json``: when its first training step happened
(start-up is the time from launch to then), and per trial its first step, per-epoch report times
and scores. The budget clock starts at the first training step; every system runs a little past
the budget and the analysis cuts all of them at exactly ``--budget`` seconds. With 4 or more GPUs
the methods run side by side, one GPU each; otherwise one after another on GPU 0.

The analysis prints a table (median and range over seeds) and writes ``anytime.png``: the best
validation accuracy among trials trained to full length against time. The target is the median
final result of c; without runs of c, the best available baseline's (b or d; the table says
which). Each method's best configuration per seed is then retrained with
``python -m core.train`` on two fresh seeds and scored on the held-out test split.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from core.cli import int_at_least, int_list, positive_seconds  # noqa: E402
from core.config import config_to_dict, load_config  # noqa: E402
from tuning.space import load_space  # noqa: E402
from tuning.space_optuna import compile_space  # noqa: E402

SPACE = ROOT / "search_spaces" / "gru.yaml"
METHODS = {"a": "this sweep (defaults)", "b": "Ray Tune OptunaSearch + ASHA",
           "c": "Ray Tune random, full length", "d": "Optuna TPE + SH pruner, processes"}
METRIC = "val_accuracy"
SLACK_S = 15.0  # every system runs this long past the budget; the analysis cuts at the budget
SMOKE = ["data.synthetic.num_samples=600", "data.synthetic.seq_len=16", "model.hidden_size=16",
         "training.eval_batch_size=256"]


def _space_and_base(smoke: bool):
    """The space, its base config (loaded once), the epochs of a full trial and ASHA's rungs."""
    space = load_space(SPACE)
    cfg = load_config(space.base_config, SMOKE if smoke else [])
    max_epochs = 4 if smoke else space.max_epochs
    grace, rf = (1, 2) if smoke else (space.grace_period, space.reduction_factor)
    return space, cfg, max_epochs, grace, rf


# ---------------------------------------------------------------------------------------------
# Trial bodies for b, c and d (a runs its own trainable)

def _train(base: dict, params: dict, max_epochs: int, data, on_epoch) -> float:
    """Trains one configuration; ``on_epoch(metrics, first_step_wall)`` after every epoch."""
    import torch

    from core.loop import fit
    from tuning.trainable import trial_config

    entry = time.time()
    cfg = trial_config(base, params, max_epochs, "compare_search")
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    best = {"v": float("-inf")}

    def reporter(metrics, _write_checkpoint):
        best["v"] = max(best["v"], metrics[METRIC])
        on_epoch(metrics, entry + metrics["setup_s"])

    fit(cfg, data, reporter=reporter, device=device)
    return best["v"]


class _Define:
    """The compiled define-by-run space in a picklable form (Tune checkpoints its searcher)."""

    def __init__(self, params):
        self.params = params

    def __call__(self, trial):
        return compile_space(self.params)(trial)


def _ray_method(method: str, seed: int, budget: float, out: Path, smoke: bool) -> None:
    import optuna
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from core.data import load_data
    from core.errors import NonFiniteLossError

    space, cfg, max_epochs, grace, rf = _space_and_base(smoke)
    base, data = config_to_dict(cfg), load_data(cfg.data, cfg.task)

    def trainable(config, data=None):
        def on_epoch(metrics, first_step):
            tune.report({**metrics, "reported_at": time.time(), "first_step_at": first_step})

        try:
            _train(base, config, max_epochs, data, on_epoch)
        except NonFiniteLossError:
            tune.report({METRIC: 0.0, "nonfinite": 1, "reported_at": time.time()})

    if method == "b":
        search = OptunaSearch(space=_Define(space.params), metric=METRIC, mode="max",
                              seed=seed)
        scheduler = ASHAScheduler(metric=METRIC, mode="max", max_t=max_epochs,
                                  grace_period=grace, reduction_factor=rf)
    else:
        search = OptunaSearch(space=_Define(space.params), metric=METRIC, mode="max",
                              sampler=optuna.samplers.RandomSampler(seed=seed))
        scheduler = None
    ray.init(address="local", logging_level="WARNING",
             **({"num_cpus": 2} if smoke else {}))
    gpus = int(ray.cluster_resources().get("GPU", 0))
    resources = {"cpu": 1, "gpu": 1} if gpus else {"cpu": 1}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, data=data), resources),
        tune_config=tune.TuneConfig(search_alg=search, scheduler=scheduler, num_samples=100000,
                                    time_budget_s=budget + SLACK_S),
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
        params = {k[len("config/"):]: v.item() if hasattr(v, "item") else v
                  for k, v in df.iloc[0].items() if str(k).startswith("config/")}
        params = {k: v for k, v in params.items() if v == v}  # NaN: a conditional left out
        trials.append({"first_step": float(df["first_step_at"].iloc[0]),
                       "reports": [float(t) for t in df["reported_at"]],
                       "scores": [float(v) for v in df[METRIC]], "params": params})
    ray.shutdown()
    _write(out, trials, max_epochs)


def _optuna_worker(journal: Path, seed: int, budget: float, smoke: bool) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from core.data import load_data
    from core.errors import NonFiniteLossError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space, cfg, max_epochs, grace, rf = _space_and_base(smoke)
    base, data = config_to_dict(cfg), load_data(cfg.data, cfg.task)
    define = compile_space(space.params)
    study = optuna.load_study(
        study_name="d", storage=JournalStorage(JournalFileBackend(str(journal))),
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=grace,
                                                      reduction_factor=rf))

    def objective(trial):
        params = define(trial)
        trial.set_user_attr("params", params)
        reports, scores = [], []

        def on_epoch(metrics, first_step):
            reports.append(time.time())
            scores.append(metrics[METRIC])
            trial.set_user_attr("timeline", {"first_step": first_step, "reports": reports,
                                             "scores": scores})
            trial.report(metrics[METRIC], metrics["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned()

        try:
            return _train(base, params, max_epochs, data, on_epoch)
        except NonFiniteLossError:
            return 0.0

    study.optimize(objective, timeout=budget + SLACK_S)


def _optuna_method(seed: int, budget: float, out: Path, smoke: bool, workers: int) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = out / "journal.log"
    storage = JournalStorage(JournalFileBackend(str(journal)))
    optuna.create_study(study_name="d", storage=storage, direction="maximize")
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(journal),
                               "--seed", str(seed * 100 + r), "--budget", str(budget)]
                              + (["--smoke"] if smoke else []), cwd=ROOT)
             for r in range(workers)]
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"optuna worker exited {p.returncode}")
    study = optuna.load_study(study_name="d", storage=storage)
    max_epochs = _space_and_base(smoke)[2]
    trials = [{**t.user_attrs["timeline"], "params": t.user_attrs["params"]}
              for t in study.get_trials(deepcopy=False) if "timeline" in t.user_attrs]
    _write(out, trials, max_epochs)


def _write(out: Path, trials: list[dict], max_epochs: int) -> None:
    summary = {"max_epochs": max_epochs, "launched": float(os.environ["COMPARE_LAUNCHED"]),
               "trials": trials}
    (out / "summary.json").write_text(json.dumps(summary))


def _ours(seed: int, budget: float, out: Path, smoke: bool) -> None:
    space = load_space(SPACE)
    raw = copy.deepcopy(space.raw)
    raw["base_config"] = str(space.base_config)
    raw["num_samples"] = 100000
    raw["sampler"] = {**(raw.get("sampler") or {}), "seed": seed}
    if smoke:
        raw.update(max_epochs=4, scheduler={"grace_period": 1, "reduction_factor": 2})
        raw["resources"] = {**raw["resources"], "trials_per_gpu": 1}
    path = out / "space.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    cmd = [sys.executable, "-m", "tuning.sweep", "--space", str(path), "--storage-path",
           str(out), "--name", "sweep", "--time-budget", str(budget + SLACK_S)]
    for o in SMOKE if smoke else []:
        cmd += ["--set", o]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"sweep exited {proc.returncode}: {proc.stderr[-3000:]}")
    from tuning.results import histories, started_config

    trials = []
    for key, history in histories(out / "sweep").items():
        rows = [r for r in history if "reported_at" in r]
        config = started_config(out / "sweep", key)
        if not rows or config is None:
            continue
        trials.append({"first_step": config["suggested_at"] + rows[0]["launch_to_first_step_s"],
                       "reports": [r["reported_at"] for r in rows],
                       "scores": [r[METRIC] for r in rows],
                       "params": config["params"]})
    _write(out, trials, raw["max_epochs"])


# ---------------------------------------------------------------------------------------------
# Orchestration

def run_one(method: str, seed: int, args) -> None:
    out = (args.out / f"{method}-s{seed}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["COMPARE_LAUNCHED"] = str(time.time())
    if method == "a":
        _ours(seed, args.budget, out, args.smoke)
    elif method in ("b", "c"):
        _ray_method(method, seed, args.budget, out, args.smoke)
    else:
        _optuna_method(seed, args.budget, out, args.smoke, args.workers)


def run_all(args) -> None:
    import torch

    from benchmarks.gpu_util import GpuUtilisation

    gpus = torch.cuda.device_count()
    methods = args.methods.split(",")
    side_by_side = gpus >= len(methods)
    for seed in args.seeds:
        batches = [methods] if side_by_side else [[m] for m in methods]
        for batch in batches:
            procs, utils = {}, {}
            for i, m in enumerate(batch):
                gpu = i if side_by_side else 0
                env = {**os.environ, "PYTHONUNBUFFERED": "1"}
                if gpus:
                    env["CUDA_VISIBLE_DEVICES"] = str(gpu)
                utils[m] = GpuUtilisation(gpu=gpu if gpus else None).start()
                log = open(args.out / f"{m}-s{seed}.log", "w")
                procs[m] = subprocess.Popen(
                    [sys.executable, __file__, "--run", m, "--seed", str(seed), "--out",
                     str(args.out), "--budget", str(args.budget), "--workers",
                     str(args.workers)] + (["--smoke"] if args.smoke else []),
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            for m, p in procs.items():
                code = p.wait()
                utils[m].stop()
                summary_path = args.out / f"{m}-s{seed}" / "summary.json"
                if code != 0 or not summary_path.exists():
                    raise SystemExit(f"method {m} seed {seed} exited {code}; see "
                                     f"{args.out / f'{m}-s{seed}.log'}")
                summary = json.loads(summary_path.read_text())
                summary["util_samples"] = utils[m].samples
                summary_path.write_text(json.dumps(summary))
                print(f"seed {seed} method {m}: {len(summary['trials'])} trials", flush=True)


# ---------------------------------------------------------------------------------------------
# Analysis

def _timeline(summary: dict, budget: float) -> dict:
    """Per-run facts within the budget, on a clock that starts at the first training step."""
    trials = summary["trials"]
    if not trials:
        raise SystemExit("a run trained no trial: raise --budget")
    origin = min(t["first_step"] for t in trials)
    full = []
    epochs = 0
    for t in trials:
        inside = [r for r in t["reports"] if r - origin <= budget]
        epochs += len(inside)
        if len(t["reports"]) >= summary["max_epochs"] and \
                t["reports"][summary["max_epochs"] - 1] - origin <= budget:
            full.append((t["reports"][summary["max_epochs"] - 1] - origin, max(t["scores"]), t))
    full.sort(key=lambda x: x[0])
    curve, best, best_trial = [], float("-inf"), None
    for when, score, t in full:
        if score > best:
            best, best_trial = score, t
            curve.append((when, score))
    util = [v for w, v in summary.get("util_samples", []) if origin <= w <= origin + budget]
    return {"startup": origin - summary["launched"], "curve": curve, "final": best,
            "configs": sum(1 for t in trials if t["first_step"] - origin <= budget),
            "full": len(full), "epochs": epochs, "best_params": best_trial and
            best_trial["params"], "util": statistics.fmean(util) if util else None}


def _reach(curve, target: float) -> float | None:
    return next((t for t, v in curve if v >= target), None)


def _fmt(values, spec=".3f", none="-") -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return none
    med = statistics.median(vals)
    miss = len(values) - len(vals)
    mid = f"{med:g}" if spec == "d" else f"{med:{spec}}"  # an even count's median may be x.5
    text = f"{mid} ({min(vals):{spec}}-{max(vals):{spec}})"
    return text + (f", {miss} never" if miss else "")


def target_method(runs: dict[str, list[dict]]) -> tuple[str, str]:
    """Which method's median final result is the target, and why: c (random search, every trial
    to full length) when it ran; else the best available baseline (b or d, by median final);
    else, with no baseline at all, the best method that ran.

    Raises:
        SystemExit: no method has runs.
    """
    if not runs:
        raise SystemExit("no runs to analyse: run the methods first, or check --out")
    if "c" in runs:
        return "c", "c"
    median = {m: statistics.median(r["final"] for r in rs) for m, rs in runs.items()}
    baselines = [m for m in runs if m in ("b", "d")] or list(runs)
    best = max(baselines, key=median.get)
    kind = "the best available baseline" if best in ("b", "d") else "no baseline ran; the best"
    return best, f"{best} ({kind}: c was not run)"


def analyse(args) -> None:
    runs: dict[str, list[dict]] = {}
    for m in args.methods.split(","):
        for path in sorted(args.out.glob(f"{m}-s*/summary.json")):
            runs.setdefault(m, []).append(_timeline(json.loads(path.read_text()), args.budget))
    target_m, target_name = target_method(runs)
    target = statistics.median(r["final"] for r in runs[target_m])
    retrain = _retrain_results(args.out)
    lines = [f"Budget {args.budget:g} s per run after start-up; target = median final of "
             f"{target_name} = {target:.4f}. Median (range) over {len(runs[target_m])} seeds.", "",
             "| method | best val acc at budget | time to target (s) | start-up (s) | configs "
             "evaluated | full-length trials | epochs trained | GPU util % | held-out test acc "
             "(retrained, 2 seeds each) |", "|---|---|---|---|---|---|---|---|---|"]
    for m, rs in runs.items():
        lines.append(
            f"| {m}: {METHODS[m]} | {_fmt([r['final'] for r in rs], '.4f')} | "
            f"{_fmt([_reach(r['curve'], target) for r in rs], '.0f')} | "
            f"{_fmt([r['startup'] for r in rs], '.1f')} | {_fmt([r['configs'] for r in rs], 'd')} "
            f"| {_fmt([r['full'] for r in rs], 'd')} | {_fmt([r['epochs'] for r in rs], 'd')} | "
            f"{_fmt([r['util'] for r in rs], '.0f')} | {_fmt(retrain.get(m, []), '.4f')} |")
    text = "\n".join(lines)
    print(text)
    (args.out / "table.md").write_text(text + "\n")
    _plot(runs, target, target_m, args)


def _plot(runs, target: float, target_m: str, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    colors = {"a": "tab:blue", "b": "tab:orange", "c": "tab:green", "d": "tab:red"}
    for m, rs in runs.items():
        for i, r in enumerate(rs):
            xs = [0.0] + [t for t, _ in r["curve"]] + [args.budget]
            ys = [None] + [v for _, v in r["curve"]] + [r["curve"][-1][1] if r["curve"] else None]
            pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
            if pts:
                ax.step([x for x, _ in pts], [y for _, y in pts], where="post",
                        color=colors[m], alpha=0.85, lw=1.5,
                        label=f"{m}: {METHODS[m]}" if i == 0 else None)
    ax.axhline(target, color="grey", ls="--", lw=1, label=f"target (median final of {target_m})")
    ax.set_xlim(0, args.budget)
    ax.set_xlabel("seconds since the first training step")
    ax.set_ylabel("best val accuracy, full-length trials")
    ax.set_title("Best configuration found so far (one line per seed)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "anytime.png")
    print(f"plot: {args.out / 'anytime.png'}")


def retrain(args) -> None:
    """Each method's best configuration per seed, trained standalone on fresh seeds; test acc."""
    import torch

    from tuning.trainable import trial_config

    gpus = torch.cuda.device_count()
    methods = args.methods.split(",")
    _, cfg, max_epochs, _, _ = _space_and_base(args.smoke)
    base = config_to_dict(cfg)
    jobs = []
    for gi, m in enumerate(methods):
        for path in sorted(args.out.glob(f"{m}-s*/summary.json")):
            tl = _timeline(json.loads(path.read_text()), args.budget)
            if tl["best_params"] is None:
                continue
            for s in args.retrain_seeds:
                run = path.parent / f"retrain-{s}"
                best = trial_config(base, {**tl["best_params"], "experiment.seed": s},
                                    max_epochs, str(path))
                cfg_path = path.parent / f"best-retrain-{s}.yaml"
                cfg_path.write_text(yaml.safe_dump(config_to_dict(best), sort_keys=False))
                jobs.append((gi % max(gpus, 1), cfg_path, run))
    # One process per GPU at a time; GPUs run side by side.
    queues: dict[int, list] = {}
    for gpu, cfg_path, run in jobs:
        queues.setdefault(gpu, []).append((cfg_path, run))
    running: list[tuple[subprocess.Popen, list]] = []

    def start(gpu):
        if queues[gpu]:
            cfg_path, run = queues[gpu].pop(0)
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(gpu)} if gpus else dict(os.environ)
            running.append((subprocess.Popen(
                [sys.executable, "-m", "core.train", "--config", str(cfg_path), "--output-dir",
                 str(run), "--quiet"], cwd=ROOT, env=env), gpu))

    for gpu in queues:
        start(gpu)
    while running:
        proc, gpu = running.pop(0)
        if proc.wait() != 0:
            raise SystemExit(f"core.train exited {proc.returncode}")
        start(gpu)


def _retrain_results(out: Path) -> dict[str, list[float]]:
    res: dict[str, list[float]] = {}
    for summary in sorted(out.glob("*-s*/retrain-*/summary.json")):
        method = summary.parent.parent.name.split("-s")[0]
        test = json.loads(summary.read_text()).get("test") or {}
        if "test_accuracy" in test:
            res.setdefault(method, []).append(test["test_accuracy"])
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/compare"))
    p.add_argument("--budget", type=positive_seconds, default=90.0,
                   help="seconds per run after start-up")
    p.add_argument("--seeds", type=int_list(0), default="0,1,2")
    p.add_argument("--methods", default="a,b,c,d")
    p.add_argument("--workers", type=int_at_least(1), default=4,
                   help="Optuna processes for method d")
    p.add_argument("--retrain-seeds", type=int_list(0), default="100,101")
    p.add_argument("--analyse", action="store_true", help="only the table and the plot")
    p.add_argument("--no-retrain", action="store_true")
    p.add_argument("--smoke", action="store_true", help="tiny CPU run (data, epochs, budget)")
    p.add_argument("--run", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.out = args.out.resolve()
    if args.worker is not None:
        return _optuna_worker(args.worker, args.seed, args.budget, args.smoke)
    if args.run is not None:
        return run_one(args.run, args.seed, args)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.analyse:
        run_all(args)
        if not args.no_retrain:
            retrain(args)
    analyse(args)


if __name__ == "__main__":
    main()
