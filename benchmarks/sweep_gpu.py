"""GPU benchmark of the sweep: step speed, Tune's per-trial cost, trial packing, multi-GPU scaling.

    python benchmarks/sweep_gpu.py [--tables step,trial,packing,scaling] [--budget 40]
                                   [--ks 1,2,4,8] [--mps off,on] [--set KEY=VALUE ...]
    python benchmarks/sweep_gpu.py --model transformer --tables step,packing --ks 1,8

``--model`` picks the config and search space (``configs/<model>.yaml``,
``search_spaces/<model>.yaml``): gru (the default) or transformer.

Prints, in one run, the tables it is asked for (all by default):

- step: samples/s of one training run of the default config (``configs/gru.yaml``) and of the
  issue's reference (1-layer GRU, hidden 64, batch 64), or of ``configs/transformer.yaml`` and a
  small transformer, with eager, ``training.compile`` and ``training.cuda_graph`` steps in each
  of ``--precisions`` (gru: auto, the config's; transformer: fp32 and bf16); time per optimizer
  step; the loss curves' largest relative difference from eager; achieved TFLOP/s (matrix
  products, forward plus backward) against the GPU's dense bf16 peak.
- trial: ``--trial-runs`` trials of the default config run one after the other in a sweep (the
  later ones reuse the first one's worker) against the standalone loop: each trial's wall time
  from the searcher's suggestion to its completion in the study, and the time to its first
  training batch.
- packing: the default search space (``search_spaces/gru.yaml``, ASHA on) for ``--budget`` seconds
  of Tune time with K = 1, 2, 4, 8 trials per GPU, MPS off and on: total samples trained per
  second, trial-epochs, trials started, GPU utilisation (nvidia-smi).
- scaling: the same with the best packing (K and MPS of the fastest packing row, else
  ``--scaling-k``) on 1, 2, 4, ... GPUs (``CUDA_VISIBLE_DEVICES``), where several GPUs exist.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.gpu_util import GpuUtilisation  # noqa: E402
from benchmarks.trial_start import START_HEADER, start_row  # noqa: E402
from core.cli import int_at_least, int_list, name_list, positive_seconds  # noqa: E402
from core.config import Config, load_config  # noqa: E402
from core.data import load_data  # noqa: E402
from core.loop import fit  # noqa: E402
from tuning.record import histories  # noqa: E402

SPACE = ROOT / "search_spaces" / "gru.yaml"  # --model sets these two
BASE = ROOT / "configs" / "gru.yaml"
STEP_CASES = {
    "gru": [("default (h128, b128)", []),
            ("reference (1 layer, h64, b64)", ["model.hidden_size=64", "model.num_layers=1",
                                               "training.batch_size=64"])],
    "transformer": [("default (d128, 2 layers, b128)", []),
                    ("small (d64, 1 layer, b64)", ["model.hidden_size=64", "model.num_layers=1",
                                                   "training.batch_size=64"])],
}
# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, TFLOP/s.
BF16_PEAK = (("H100 PCIe", 756.0), ("H100", 989.4), ("H200", 989.4), ("A100", 312.0))


def bf16_peak(name: str) -> float | None:
    return next((v for k, v in BF16_PEAK if k in name), None)


def train_flops_per_sample(cfg: Config, num_features: int) -> float:
    """Multiply-adds x 2 of the recurrent layers' (or the transformer's) matrix products, forward
    and backward (3x the forward); element-wise math and the head are left out (under 2% here)."""
    m = cfg.model
    seq = cfg.data.synthetic.seq_len
    if m.name == "transformer":
        d, ff = m.hidden_size, m.ff_size or 4 * m.hidden_size
        tokens = seq + (m.pooling == "cls")
        # per token: q, k, v and output projections, two feed-forward layers, q.k and a.v
        per_layer = tokens * (4 * d * d + 2 * d * ff + 2 * tokens * d)
        return 3 * 2 * (seq * num_features * d + m.num_layers * per_layer)
    gates = {"gru": 3, "lstm": 4}.get(m.name)
    if gates is None:
        return float("nan")
    dirs = 2 if m.bidirectional else 1
    total, inp = 0.0, num_features
    for _ in range(m.num_layers):
        total += dirs * 2 * gates * m.hidden_size * (inp + m.hidden_size) * seq
        inp = m.hidden_size * dirs
    return 3 * total


# ---------------------------------------------------------------------------------------------
# Step speed (in this process)

def step_table(args, gpu: str) -> list[str]:
    cases = [(f"{label}, {precision}", extra + [f"training.precision={precision}"])
             for label, extra in STEP_CASES[args.model] for precision in args.precisions]
    modes = [("eager", ["training.cuda_graph=false"]), ("compiled", ["training.compile=true",
                                                                    "training.cuda_graph=false"]),
             ("graphed", ["training.cuda_graph=true"])]
    peak = bf16_peak(gpu)
    lines = [f"### Step speed ({gpu}, {BASE.name}, {args.step_epochs} epochs per run, median "
             "of epochs 2+)", "",
             "| config | step | samples/s | ms per step | x eager | largest loss difference "
             "vs eager | TFLOP/s | % of bf16 peak |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    data = None
    for label, extra in cases:
        eager_hist, eager_rate = None, None
        for mode, sets in modes:
            cfg = load_config(BASE, args.overrides + extra + sets +
                              [f"training.epochs={args.step_epochs}"])
            data = data or load_data(cfg.data, cfg.task)
            if eager_hist is None:
                fit(cfg, data)  # warm: CUDA context, cuDNN plans, allocator
            hist = fit(cfg, data).history
            rate = statistics.median(h["samples_per_s"] for h in hist[1:])
            if eager_hist is None:
                eager_hist, eager_rate = hist, rate
            diff = max(abs(h[k] - e[k]) / abs(e[k]) for h, e in zip(hist, eager_hist, strict=True)
                       for k in ("train_loss", "val_loss"))
            tflops = train_flops_per_sample(cfg, data.num_features) * rate / 1e12
            pct = f"{100 * tflops / peak:.2f}" if peak else "-"
            ms = 1000 * cfg.training.batch_size / rate
            lines.append(f"| {label} | {mode} | {rate:,.0f} | {ms:.2f} | {rate / eager_rate:.2f} "
                         f"| {diff:.1e} | {tflops:.2f} | {pct} |")
            print(lines[-1], flush=True)
    return lines + [""]


# ---------------------------------------------------------------------------------------------
# Sweeps (each in its own process, as a user runs them)

def run_sweep(tmp: Path, name: str, space: Path, extra: list[str], env: dict | None = None,
              overrides: list[str] = ()) -> dict:
    cmd = [sys.executable, "-m", "tuning.sweep", "--space", str(space), "--storage-path",
           str(tmp), "--name", name, *extra]
    for o in overrides:
        cmd += ["--set", o]
    t0 = time.perf_counter()
    # Utilisation of the GPUs the sweep may use, not of every GPU of the machine.
    with GpuUtilisation(gpu=(env or {}).get("CUDA_VISIBLE_DEVICES")) as util:
        proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})},
                              capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"sweep {name} exited {proc.returncode}")
    exp = tmp / name
    log = (exp / "sweep.log").read_text()
    tune_s, driver_cpu = re.findall(r"tune run-\d+ took ([\d.]+) s; driver CPU (\d+)%", log)[-1]
    trials = []
    for history in histories(exp).values():
        rows = [r for r in history if "samples_per_s" in r]
        if rows:
            trials.append(rows)
    steady = _steady(trials, util)
    return {"wall": wall, "tune_s": float(tune_s), "driver_cpu": int(driver_cpu), "trials": trials,
            "util": util.mean, **steady}


def _steady(trials: list[list[dict]], util) -> dict:
    """Epochs finished in the second half of the span from the first report to the last, per
    second (start-up excluded), and the GPU utilisation over that half."""
    times = [r["reported_at"] for rows in trials for r in rows if "reported_at" in r]
    if len(times) < 2:
        return {"steady_epochs_per_s": 0.0, "steady_util": None}
    t0, t1 = min(times), max(times)
    mid = (t0 + t1) / 2
    return {"steady_epochs_per_s": sum(t > mid for t in times) / max(t1 - mid, 1e-9),
            "steady_util": util.between(mid, t1)}


def _samples(trials: list[list[dict]], n_train: int) -> int:
    return sum(len(rows) for rows in trials) * n_train


def trial_table(args, tmp: Path, n_train: int) -> list[str]:
    cfg = load_config(BASE, args.overrides)
    data = load_data(cfg.data, cfg.task)
    fit(cfg, data)  # cold run: CUDA context, cuDNN plans
    seen = []
    t0 = time.perf_counter()
    fit(cfg, data, reporter=lambda metrics, _: seen.append(metrics))
    warm = time.perf_counter() - t0
    first = seen[0]["setup_s"]
    space = tmp / "fixed.yaml"
    space.write_text(  # the default config, --trial-runs times (one choice)
        f"base_config: {BASE}\nmetric: val_accuracy\nmode: max\nnum_samples: {args.trial_runs}\n"
        f"max_epochs: {cfg.training.epochs}\n"
        f"scheduler: {{grace_period: {cfg.training.epochs}, reduction_factor: 2}}\n"
        "resources: {trials_per_gpu: 1, cpus_per_trial: 1}\n"
        f"params:\n  optim.lr: {{type: categorical, choices: [{cfg.optim.lr}]}}\n")
    run = run_sweep(tmp, "single", space, [], {"CUDA_VISIBLE_DEVICES": "0"}, args.overrides)
    args.start_rows.append(start_row("trial table, K=1", run["trials"]))
    import optuna

    db = tmp / "single" / "study.db"
    study = optuna.load_study(study_name="single", storage=f"sqlite:///{db}")
    lines = [f"### One trial against the standalone loop (default config, {cfg.training.epochs} "
             "epochs)", "",
             "Trial wall: the study's start (the searcher's suggestion) to its completion (the "
             "driver has the last result and checkpoint). Tune's share: trial wall over the "
             "standalone `fit` in a warm process, minus one.", "",
             "| run | trial wall (s) | fit: setup + epochs (s) | launch to first step (s) | "
             "last checkpoint write (s) | last epoch to completion (s) | Tune's share |",
             "|---|---:|---:|---:|---:|---:|---:|",
             f"| standalone loop, warm process | {warm:.3f} | {warm:.3f} | {first:.3f} | - | - "
             "| - |"]
    shares = []
    for i, (rows, t) in enumerate(zip(run["trials"], study.trials, strict=True)):
        last = rows[-1]
        wall = (t.datetime_complete - t.datetime_start).total_seconds()
        if i:
            shares.append(wall / warm - 1)
        fit_s = sum(r["epoch_time_s"] for r in rows) + last["setup_s"]
        lines.append(f"| trial {i + 1} ({'new' if i == 0 else 'reused'} worker) | {wall:.3f} | "
                     f"{fit_s:.3f} | {last['launch_to_first_step_s']:.3f} | "
                     f"{last.get('checkpoint_s', float('nan')):.3f} | "
                     f"{t.datetime_complete.timestamp() - last['reported_at']:.3f} | "
                     f"{100 * (wall / warm - 1):.1f}% |")
    if shares:
        mid = 100 * statistics.median(shares)
        lines += ["", f"Tune's share on a reused worker: median {mid:.1f}% "
                  f"({100 * min(shares):.1f}% to {100 * max(shares):.1f}%)."]
    lines += ["", f"Sweep wall time with Ray start and shutdown: {run['wall']:.1f} s "
              f"(Tune {run['tune_s']:.1f} s).", ""]
    print("\n".join(lines), flush=True)
    return lines


def _budget_run(tmp: Path, name: str, k: int, mps: str, visible: str, args,
                n_train: int) -> dict:
    """The default space for ``--budget`` seconds of Tune time, K trials per GPU."""
    run = run_sweep(tmp, name, SPACE, ["--trials-per-gpu", str(k), "--mps", mps,
                                       "--num-samples", "400", "--time-budget", str(args.budget)],
                    {"CUDA_VISIBLE_DEVICES": visible}, args.overrides)
    run["rate"] = _samples(run["trials"], n_train) / run["tune_s"]
    run["steady"] = run["steady_epochs_per_s"] * n_train
    run["epochs"] = sum(len(r) for r in run["trials"])
    run["util_text"] = f"{run['steady_util']:.0f}" if run["steady_util"] is not None else "-"
    return run


def _rates(run: dict, first: dict) -> str:
    """samples/s, ratio, steady samples/s, ratio: against the table's first row."""
    return (f"{run['rate']:,.0f} | {run['rate'] / (first['rate'] or 1):.2f} | "
            f"{run['steady']:,.0f} | {run['steady'] / (first['steady'] or 1):.2f}")


def packing_table(args, tmp: Path, n_train: int, gpu: str) -> tuple[list[str], tuple]:
    lines = [f"### Packing: default search space for {args.budget:g} s of Tune time, one {gpu}",
             "", "| trials per GPU | MPS | samples/s | x K=1 | steady samples/s | x K=1 (steady) | "
             "trial-epochs | trials started | GPU util % (steady) | driver CPU % | "
             "sweep wall (s) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    first, best = None, (0.0, 1, "off")
    for k in args.ks:
        for mps in (args.mps if k > 1 else ("off",)):
            run = _budget_run(tmp, f"pack-k{k}-{mps}", k, mps, "0", args, n_train)
            first = first or run
            best = max(best, (run["rate"], k, mps))
            args.start_rows.append(start_row(f"K={k}, MPS {mps}", run["trials"]))
            lines.append(f"| {k} | {mps} | {_rates(run, first)} | {run['epochs']} | "
                         f"{len(run['trials'])} | {run['util_text']} | {run['driver_cpu']} | "
                         f"{run['wall']:.0f} |")
            print(lines[-1], flush=True)
    return lines + [""], best


def scaling_table(args, tmp: Path, n_train: int, gpu: str, k: int, mps: str) -> list[str]:
    gpus = torch.cuda.device_count()
    counts = [n for n in args.gpu_counts if n <= gpus]
    lines = [f"### Scaling: default search space, {k} trials per GPU, MPS {mps}, "
             f"{args.budget:g} s of Tune time, {gpu}", "",
             "| GPUs | samples/s | x 1 GPU | steady samples/s | x 1 GPU (steady) | trial-epochs | "
             "GPUs in trials.csv | most GPUs one trial saw | GPU util % (steady) | driver CPU % |",
             "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    first = None
    for n in counts:
        run = _budget_run(tmp, f"scale-{n}", k, mps, ",".join(map(str, range(n))), args, n_train)
        first = first or run
        with open(tmp / f"scale-{n}" / "trials.csv") as f:
            used = sorted({row["gpu"].split(" ")[0] for row in csv.DictReader(f)} - {""})
        seen = max(rows[-1].get("visible_gpus", 0) for rows in run["trials"])
        args.start_rows.append(start_row(f"{n} GPU(s), K={k}, MPS {mps}", run["trials"]))
        lines.append(f"| {n} | {_rates(run, first)} | {run['epochs']} | {', '.join(used)} | "
                     f"{seen} | {run['util_text']} | {run['driver_cpu']} |")
        print(lines[-1], flush=True)
    return lines + [""]


PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # training.precision's choices
TABLES = ("step", "trial", "packing", "scaling")


def _k_mps(text: str) -> tuple[int, str]:
    """``--scaling-k K,MPS``: trials per GPU (>= 1) and off or on."""
    k, _, mps = text.partition(",")
    if not (k.strip().isdigit() and int(k) >= 1 and mps.strip() in ("off", "on")):
        raise argparse.ArgumentTypeError(f"expected K,MPS with K >= 1 and MPS off or on, "
                                         f"got {text!r}")
    return int(k), mps.strip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=("gru", "transformer"), default="gru",
                   help="configs/<model>.yaml and search_spaces/<model>.yaml")
    p.add_argument("--precisions", type=name_list(PRECISIONS), default=None,
                   help="training.precision values of the step table (default: auto for gru, "
                        "fp32,bf16 for transformer)")
    p.add_argument("--tables", type=name_list(TABLES), default=",".join(TABLES))
    p.add_argument("--budget", type=positive_seconds, default=40.0,
                   help="Tune seconds per packing sweep")
    p.add_argument("--step-epochs", type=int_at_least(2), default=8)
    p.add_argument("--trial-runs", type=int_at_least(1), default=8,
                   help="trials of the trial table")
    p.add_argument("--ks", type=int_list(1), default="1,2,4,8")
    p.add_argument("--mps", type=name_list(("off", "on")), default="off,on",
                   help="MPS settings to try for K > 1")
    p.add_argument("--scaling-k", type=_k_mps, default=None,
                   help="K,MPS for the scaling table, e.g. 4,on")
    p.add_argument("--gpu-counts", type=int_list(1), default="1,2,4,8",
                   help="GPU counts of the scaling table")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    global BASE, SPACE
    BASE = ROOT / "configs" / f"{args.model}.yaml"
    SPACE = ROOT / "search_spaces" / f"{args.model}.yaml"
    args.precisions = args.precisions or (["auto"] if args.model == "gru" else ["fp32", "bf16"])
    args.start_rows = []
    logging.basicConfig(level=logging.WARNING)
    tables = set(args.tables)
    gpus = torch.cuda.device_count()
    gpu = torch.cuda.get_device_name(0) if gpus else "CPU"
    base_cfg = load_config(BASE, args.overrides)
    n_train = len(load_data(base_cfg.data, base_cfg.task).train)
    out = [f"## {gpu} x {gpus}, torch {torch.__version__}, {n_train} training sequences", ""]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "step" in tables:
            out += step_table(args, gpu)
        if "trial" in tables:
            out += trial_table(args, tmp, n_train)
        best = (0.0, 4, "on")
        if "packing" in tables:
            lines, best = packing_table(args, tmp, n_train, gpu)
            out += lines
        if args.scaling_k:
            best = (0.0, *args.scaling_k)
        if "scaling" in tables and gpus > 1:
            out += scaling_table(args, tmp, n_train, gpu, best[1], best[2])
        if args.start_rows:
            out += START_HEADER + args.start_rows + [""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
