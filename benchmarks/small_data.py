"""The small-data benchmark (docs/real-data.md): what a user gets from search_spaces/tsc.yaml
and nothing but the data file, on the development sets' official splits, several seeds.

    python benchmarks/small_data.py --out OUT [--sets ...] [--seeds 0 1 2] [--parallel 1]
    python benchmarks/small_data.py --table OUT [OUT ...]

For each data set and seed, the commands a user types (docs/small-data.md), each timed:

- ``cv``: ``python -m tuning.sweep --space search_spaces/tsc.yaml --set data.source=npz --set
  data.path=FILE`` (plus ``task.type`` for binary and regression sets, as configs/tsc.yaml says),
  which writes ``best_config.yaml``, ``final_config.yaml`` and ``ensemble.yaml``; then
  ``python -m core.train`` on each: the CV best (its fold models' mean prediction on test), the
  refit on every non-test series (CV + refit) and the ensemble of refits (CV + refit + ensemble);
- ``holdout``: the same sweep with ``--set data.cv_folds=0`` (one validation split, as before
  cross-validation existed), then ``core.train`` on its ``best_config.yaml``;
- ``gru``: the hand-written GRU of ``benchmarks/baselines.py`` (150 epochs on the whole train
  split), on the same device.

Seed ``s`` sets the sampler's seed, ``experiment.seed`` and ``data.split_seed`` to ``s`` (a copy
of the space under OUT/spaces names the shipped base config). The test metric is accuracy
(classification; ItalyPowerDemand at the threshold the run chose) or RMSE in the target's units.
Each finished step appends one JSON line to OUT/results.jsonl (set, seed, method, metric,
value, seconds, and the commit: ``git rev-parse`` unless ``BENCH_COMMIT`` names it, for a
machine whose copy of ``.git`` lags its working tree); ``--deadline`` stops starting steps
after that many seconds (and ends the running ones), so a time-limited machine still returns
what finished. ``--table`` prints the Markdown table of docs/real-data.md from one or more OUT
folders' results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.cli import int_at_least  # noqa: E402

__all__ = ["SETS", "PUBLISHED", "commands", "summarise"]

# data set -> (npz file, --set overrides beyond the file, test metric, best published deep model)
SETS = {
    "ItalyPowerDemand": ("italy_power_demand.npz", ["task.type=binary", "task.positive_class=2"],
                         "accuracy"),
    "JapaneseVowels": ("japanese_vowels.npz", [], "accuracy"),
    "Covid3Month": ("covid3month.npz", ["task.type=regression"], "rmse"),
    "CardanoSentiment": ("cardano_sentiment.npz", ["task.type=regression"], "rmse"),
    "ACSF1": ("acsf1.npz", [], "accuracy"),
    "PigCVP": ("pig_cvp.npz", [], "accuracy"),
    "PLAID": ("plaid.npz", [], "accuracy"),
}
# The best published deep model on the default split (../shared/notes/published-results.md:
# InceptionTime, ResNet or FCN; for JapaneseVowels FCN's run 0).
PUBLISHED = {
    "ItalyPowerDemand": ("InceptionTime", 0.966), "JapaneseVowels": ("FCN", 0.992),
    "Covid3Month": ("FCN", 0.044), "CardanoSentiment": ("FCN", 0.302),
    "ACSF1": ("ResNet", 0.930), "PigCVP": ("InceptionTime", 0.966),
    "PLAID": ("ResNet", 0.948),
}
METHODS = ("gru", "holdout", "cv")
LOWER_IS_BETTER = {"rmse"}


def commands(name: str, data_dir: Path, space: Path, sweeps: Path, runs: Path, seed: int,
             method: str, sweep_args: list[str] = ()) -> list[tuple[str, list[str]]]:
    """The (label, argv) steps of one method on one data set and seed, in order.

    ``sweep_args``: further ``tuning.sweep`` arguments (tests shrink the sweep with them).
    """
    file, extra, _ = SETS[name]
    py = sys.executable
    sets = [f"data.path={data_dir / file}", "data.source=npz", *extra,
            f"experiment.seed={seed}", f"data.split_seed={seed}"]
    sweep_name = f"{name}-{method}-{seed}"
    sweep = [py, "-m", "tuning.sweep", "--space", str(space), "--name", sweep_name,
             "--storage-path", str(sweeps), *sweep_args]
    for s in sets:
        sweep += ["--set", s]
    done = sweeps / sweep_name
    out = runs / sweep_name
    if method == "holdout":
        return [("sweep", sweep + ["--set", "data.cv_folds=0"]),
                ("holdout", [py, "-m", "core.train", "--config", str(done / "best_config.yaml"),
                             "--output-dir", str(out / "best"), "--quiet"])]
    return [("sweep", sweep),
            ("cv_best", [py, "-m", "core.train", "--config", str(done / "best_config.yaml"),
                         "--output-dir", str(out / "best"), "--quiet"]),
            ("cv_refit", [py, "-m", "core.train", "--config", str(done / "final_config.yaml"),
                          "--output-dir", str(out / "refit"), "--quiet"]),
            ("cv_ensemble", [py, "-m", "core.train", "--ensemble", str(done / "ensemble.yaml"),
                             "--output-dir", str(out / "ensemble"), "--quiet"])]


def _test_metric(summary_path: Path, metric: str) -> float | None:
    test = (json.loads(summary_path.read_text()).get("test") or {})
    for key in (f"test_{metric}", metric):
        if key in test:
            return float(test[key])
    return None


class _Runner:
    """Runs steps as subprocesses, writes result lines, and honours the deadline."""

    def __init__(self, out: Path, deadline: float):
        self.out, self.deadline = out, deadline
        self.lock = threading.Lock()
        self.procs: set[subprocess.Popen] = set()

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def record(self, row: dict) -> None:
        with self.lock, open(self.out / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    def step(self, label: str, argv: list[str], log: Path) -> tuple[int, float]:
        if self.left() <= 0:
            return -1, 0.0
        t0 = time.monotonic()
        with open(log, "w") as f:
            proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
                                    start_new_session=True,
                                    env={**os.environ, "PYTHONPATH": f"{ROOT}:"
                                         + os.environ.get("PYTHONPATH", "")})
            with self.lock:
                self.procs.add(proc)
            try:
                rc = proc.wait(timeout=max(self.left(), 1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                rc = proc.wait()
            with self.lock:
                self.procs.discard(proc)
        return rc, time.monotonic() - t0

    def pipeline(self, name: str, seed: int, method: str, args: argparse.Namespace) -> None:
        metric = SETS[name][2]
        logs = self.out / "logs"
        base = {"set": name, "seed": seed, "metric": metric, "commit": args.commit,
                "device": args.device_name}
        if method == "gru":
            from benchmarks.baselines import load_official, score, train_gru
            task = "binary" if name == "ItalyPowerDemand" else \
                "regression" if metric == "rmse" else "multiclass"
            train, test = load_official(str(args.data / SETS[name][0]), task,
                                        "2" if task == "binary" else None)
            t0 = time.monotonic()
            pred = train_gru(train, test, task, seed, epochs=args.gru_epochs,
                             device=args.gru_device)
            value = score(task, test[2], pred)[metric]
            self.record({**base, "method": "gru", "value": value,
                         "seconds": time.monotonic() - t0})
            return
        sweep_s = 0.0
        for label, argv in commands(name, args.data, args.space_for(seed), args.out / "sweeps",
                                    args.out / "runs", seed, method,
                                    args.sweep_args.split()):
            rc, secs = self.step(label, argv, logs / f"{name}-{method}-{seed}-{label}.log")
            if label == "sweep":
                sweep_s = secs
                if rc != 0:
                    self.record({**base, "method": method, "value": None, "seconds": secs,
                                 "error": f"sweep exit {rc}"})
                    return
                continue
            summary = Path(argv[argv.index("--output-dir") + 1]) / "summary.json"
            value = _test_metric(summary, metric) if rc == 0 and summary.exists() else None
            self.record({**base, "method": label, "value": value, "seconds": secs,
                         "sweep_seconds": sweep_s,
                         **({} if rc == 0 else {"error": f"exit {rc}"})})


def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "logs").mkdir(exist_ok=True)
    spaces = args.out / "spaces"
    spaces.mkdir(exist_ok=True)
    shipped = yaml.safe_load((ROOT / "search_spaces" / "tsc.yaml").read_text())

    def space_for(seed: int) -> Path:
        path = spaces / f"tsc_seed{seed}.yaml"
        if not path.exists():
            space = dict(shipped, base_config=str(ROOT / "configs" / "tsc.yaml"))
            space["sampler"] = {**space["sampler"], "seed": seed}
            path.write_text(yaml.safe_dump(space, sort_keys=False))
        return path

    args.space_for = space_for
    # The device machine's copy of .git can lag its working tree: BENCH_COMMIT names the commit.
    args.commit = os.environ.get("BENCH_COMMIT") or subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
        capture_output=True, text=True).stdout.strip() or "unknown"
    try:
        import torch
        args.device_name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001 - a label only
        args.device_name = "unknown"
    runner = _Runner(args.out, time.monotonic() + args.deadline)
    # Seed by seed, each set's methods in the order given, so that a deadline leaves whole
    # seeds; the hand-written GRU (one CPU, a small share of the GPU) runs beside the sweeps.
    jobs = [(name, seed, method) for seed in args.seeds for name in args.sets
            for method in args.methods if method != "gru"]
    grus = [(name, seed, "gru") for seed in args.seeds for name in args.sets
            if "gru" in args.methods]
    with ThreadPoolExecutor(args.parallel) as pool, ThreadPoolExecutor(1) as side:
        futures = [pool.submit(runner.pipeline, *job, args) for job in jobs]
        futures += [side.submit(runner.pipeline, *job, args) for job in grus]
        for fut in futures:
            fut.result()
    return 0


def _rows(folders: list[Path]) -> list[dict]:
    rows = []
    for folder in folders:
        path = folder / "results.jsonl" if folder.is_dir() else folder
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def summarise(values: list[float], digits: int) -> str:
    """``mean (min-max)`` of a method's per-seed values, or ``-``."""
    if not values:
        return "-"
    fmt = f"{{:.{digits}f}}"
    if len(values) == 1:
        return fmt.format(values[0]) + " (1 seed)"
    return f"{fmt.format(statistics.mean(values))} ({fmt.format(min(values))}-" \
           f"{fmt.format(max(values))})"


def table(args: argparse.Namespace) -> int:
    rows = _rows(args.folders)
    cols = ("gru", "holdout", "cv_best", "cv_refit", "cv_ensemble")
    print("| data set | test metric | best published deep | hand-written GRU | holdout best | "
          "CV best | CV + refit | CV + refit + ensemble | GPU minutes (CV sweep + refit + "
          "ensemble) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in SETS:
        mine = [r for r in rows if r["set"] == name]
        if not mine:
            continue
        metric = SETS[name][2]
        digits = 4 if metric == "rmse" else 3
        cells = [summarise([r["value"] for r in mine if r["method"] == c
                            and r.get("value") is not None], digits) for c in cols]
        minutes = []
        for seed in sorted({r["seed"] for r in mine}):
            steps = {r["method"]: r for r in mine if r["seed"] == seed}
            if {"cv_refit", "cv_ensemble"} <= set(steps):
                minutes.append((steps["cv_refit"]["sweep_seconds"] + steps["cv_refit"]["seconds"]
                                + steps["cv_ensemble"]["seconds"]) / 60)
        published = PUBLISHED[name]
        print(f"| {name} | {metric} | {published[0]} {published[1]} | " + " | ".join(cells)
              + f" | {summarise(minutes, 1)} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, help="folder of the results (OUT/results.jsonl)")
    p.add_argument("--table", type=Path, nargs="+", metavar="OUT",
                   help="print the Markdown table of these folders' results.jsonl and stop")
    p.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "data",
                   help="folder of the NPZ files (benchmarks/real_data.py)")
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    p.add_argument("--seeds", type=int_at_least(0), nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--parallel", type=int_at_least(1), default=1,
                   help="sweep pipelines at a time (1: each sweep has the GPU to itself, so its "
                        "wall time is its GPU time)")
    p.add_argument("--deadline", type=float, default=1e9,
                   help="seconds after which no step starts and running ones are ended")
    p.add_argument("--gru-device", default="cuda", help="device of the hand-written GRU")
    p.add_argument("--gru-epochs", type=int_at_least(1), default=150)
    p.add_argument("--sweep-args", default="",
                   help="further tuning.sweep arguments, e.g. '--num-samples 4' (not the "
                        "benchmark's: for tests)")
    args = p.parse_args(argv)
    if args.table:
        args.folders = args.table
        return table(args)
    if args.out is None:
        p.error("--out (or --table) is required")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
