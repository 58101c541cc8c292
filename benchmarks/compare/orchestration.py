"""Running the comparison: every method and seed as a child process of the command (``--run M
--seed S``), side by side on one GPU each when there are enough, one after another otherwise;
each seed's final choices retrained with ``python -m core.train``; the analysis rewritten after
each seed, so a run cut off early leaves analysable results. Runs and retrains already on disk
are kept; ``--deadline`` skips what would end past it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from benchmarks.compare.analysis import final_choices, retrain_dir
from benchmarks.compare.method_optuna import run_optuna
from benchmarks.compare.method_ray import run_ray
from benchmarks.compare.method_sweep import confirm_share, run_sweep
from benchmarks.compare.results import analyse, run_seed
from benchmarks.compare.summary import LAUNCHED_ENV, SUMMARY_FILE, write_json
from benchmarks.compare.tasks import ENTRY, METHODS, ROOT, child_flags, setup_of
from core.config import config_to_dict
from core.files import atomic_write_text
from tuning.space import trial_config

__all__ = ["retrain", "run_all", "run_one"]


def run_one(method: str, seed: int, args) -> None:
    """One run of ``method`` on ``seed`` into ``<out>/<method>-s<seed>`` (a child process)."""
    out = (args.out / f"{method}-s{seed}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ[LAUNCHED_ENV] = str(time.time())
    if method == "a":
        run_sweep(seed, args, out)
    elif method in ("b", "c"):
        run_ray(method, seed, args, out)
    else:
        run_optuna(seed, args, out)


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
                "seeds": args.seeds, "methods": args.methods, "trials": args.trials,
                "confirm": list(args.confirm),
                "confirm_share": confirm_share(args.budget + args.slack, args.confirm_share),
                "retrain_seeds": args.retrain_seeds, "sets": args.sets, "smoke": args.smoke,
                "workers": args.workers, "commit": commit,
                "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    atomic_write_text(args.out / "run.json", json.dumps(manifest, indent=1) + "\n")


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
        todo = [m for m in methods if not (args.out / f"{m}-s{seed}" / SUMMARY_FILE).exists()]
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
                    [sys.executable, str(ENTRY), "--run", m, "--seed", str(seed), "--out",
                     str(args.out), *child_flags(args)],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
                clock.say(f"seed {seed} {m}: started ({METHODS[m]})")
            for m, p in procs.items():
                code = p.wait()
                utils[m].stop()
                took = time.monotonic() - started
                seen[m] = max(seen.get(m, 0.0), took)
                summary_path = args.out / f"{m}-s{seed}" / SUMMARY_FILE
                if code != 0 or not summary_path.exists():
                    clock.say(f"seed {seed} {m}: FAILED (exit {code}) after {took:.0f} s; see "
                              f"{args.out / f'{m}-s{seed}.log'}")
                    continue
                summary = json.loads(summary_path.read_text())
                summary["util_samples"] = utils[m].samples
                write_json(summary_path, summary)
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


def retrain(args, seeds: list[int] | None = None, say=print) -> int:
    """Each run's final choice (and a's search-phase best, once if it is the same
    configuration), trained standalone with ``core.train`` on every ``--retrain-seeds`` seed and
    scored on the held-out test split; ``--retrain-parallel`` at a time, spread over the GPUs.
    A cross-validated task's (``data.cv_folds``) retrain trains the K fold models again, and its
    test metrics are their mean prediction's (``tasks``' module docstring). Retrains already on
    disk are kept. Returns how many ran."""
    import torch

    gpus = torch.cuda.device_count()
    st = setup_of(args)
    base = config_to_dict(st.cfg)
    budget = args.budget
    jobs = []
    for m in args.methods:
        for path in sorted(args.out.glob(f"{m}-s*/{SUMMARY_FILE}")):
            if seeds is not None and run_seed(path.parent) not in seeds:
                continue
            summary = json.loads(path.read_text())
            choices = final_choices(m, summary, budget)
            distinct = {retrain_dir(path.parent, c["params"], 0): c["params"]
                        for c in choices.values() if c and c.get("params") is not None}
            for params in distinct.values():
                for s in args.retrain_seeds:
                    run = retrain_dir(path.parent, params, s)
                    if (run / SUMMARY_FILE).exists():
                        continue
                    cfg = trial_config(base, {**params, "experiment.seed": s}, st.max_epochs,
                                       str(path))
                    cfg_path = run.with_suffix(".yaml")
                    atomic_write_text(cfg_path, yaml.safe_dump(config_to_dict(cfg),
                                                               sort_keys=False))
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
