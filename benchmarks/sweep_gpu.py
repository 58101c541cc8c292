"""Sweep throughput on GPUs: standalone loop vs one Tune trial, and trials packed per GPU.

    python benchmarks/sweep_gpu.py [--epochs 10] [--ks 1,2,4,8] [--set KEY=VALUE ...]

Prints three tables:
1. the standalone loop's samples/s for the default config (``configs/gru.yaml``);
2. the same config as a single Tune trial through ``tuning.sweep`` (per-epoch checkpoints and
   reports included): its samples/s and time against the standalone run;
3. total samples/s of K trials per GPU (all running at once, no early stopping), with and without
   CUDA MPS: "steady" sums each trial's median per-epoch samples/s, "end to end" divides every
   sample trained by the sweep's wall time (trial start-up included).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.config import load_config  # noqa: E402
from core.data import load_data  # noqa: E402
from core.loop import fit  # noqa: E402
from tuning import sweep  # noqa: E402


def _space(path: Path, k: int, epochs: int, samples: int) -> None:
    path.write_text(
        f"base_config: {ROOT / 'configs' / 'gru.yaml'}\n"
        f"metric: val_accuracy\nmode: max\nnum_samples: {samples}\nmax_epochs: {epochs}\n"
        f"scheduler: {{grace_period: {epochs}, reduction_factor: 2}}\n"
        f"resources: {{trials_per_gpu: {k}, cpus_per_trial: 1}}\n"
        "params:\n  optim.lr: {type: float, low: 1.0e-3, high: 3.0e-3, log: true}\n")


def _trial_stats(exp: Path) -> list[dict]:
    out = []
    for result in sorted((exp / "tune").glob("run-*/t*/result.json")):
        rows = [json.loads(line) for line in result.read_text().splitlines()]
        rows = [r for r in rows if "samples_per_s" in r]
        if not rows:
            continue
        rates = [r["samples_per_s"] for r in rows[1:]] or [rows[0]["samples_per_s"]]
        out.append({"rate": statistics.median(rates), "epochs": len(rows),
                    "time": rows[-1]["time_total_s"], "gpu": rows[-1].get("gpu_id"),
                    "visible": rows[-1].get("visible_gpus")})
    return out


def run_sweep(tmp: Path, name: str, k: int, epochs: int, samples: int, mps: str,
              overrides: list[str]) -> tuple[float, list[dict]]:
    space = tmp / f"{name}.yaml"
    _space(space, k, epochs, samples)
    args = ["--space", str(space), "--storage-path", str(tmp), "--name", name, "--mps", mps]
    for o in overrides:
        args += ["--set", o]
    t0 = time.perf_counter()
    code = sweep.main(args)
    wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"sweep {name} exited {code}")
    return wall, _trial_stats(tmp / name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--ks", default="1,2,4,8")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--skip-single", action="store_true",
                   help="only the packing table (e.g. for a GPU-scaling comparison)")
    p.add_argument("--mps", default="off,on", help="MPS settings to try for K > 1")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    gpus = torch.cuda.device_count()
    name = torch.cuda.get_device_name(0) if gpus else "CPU"
    cfg = load_config(ROOT / "configs" / "gru.yaml",
                      args.overrides + [f"training.epochs={args.epochs}"])
    data = load_data(cfg.data)
    samples_per_trial = len(data.train) * args.epochs
    lines = [f"## {name} x {gpus}, config configs/gru.yaml {' '.join(args.overrides)}, "
             f"{args.epochs} epochs per trial, {len(data.train)} training sequences", ""]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_single:
            lines += single_trial_table(cfg, data, tmp, args)
        lines += [
            "| trials per GPU | MPS | trials | steady samples/s (sum) | end-to-end samples/s | "
            "x K=1 (steady) | wall (s) | GPUs used | max GPUs a trial saw |",
            "|---:|---|---:|---:|---:|---:|---:|---|---:|",
        ]
        base = None
        for k in [int(x) for x in args.ks.split(",")]:
            for mps in (args.mps.split(",") if k > 1 else ("off",)):
                n = k * max(gpus, 1)
                wall, stats = run_sweep(tmp, f"k{k}-{mps}", k, args.epochs, n, mps,
                                        args.overrides)
                steady = sum(s["rate"] for s in stats)
                e2e = samples_per_trial * len(stats) / wall
                base = base or steady
                used = sorted({s["gpu"] for s in stats if s["gpu"] is not None})
                seen = max((s["visible"] or 0) for s in stats)
                lines.append(f"| {k} | {mps} | {len(stats)} | {steady:,.0f} | {e2e:,.0f} | "
                             f"{steady / base:.2f} | {wall:.1f} | {used} | {seen} |")
                print(lines[-1], flush=True)
    print("\n".join(lines))


def single_trial_table(cfg, data, tmp: Path, args) -> list[str]:
    t0 = time.perf_counter()
    fit(cfg, data)  # cold: first run in the process pays CUDA context and cuDNN autotuning
    cold_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    standalone = fit(cfg, data)
    standalone_wall = time.perf_counter() - t0
    standalone_rate = statistics.median(h["samples_per_s"] for h in standalone.history[1:])
    wall, stats = run_sweep(tmp, "single", 1, args.epochs, 1, "off", args.overrides)
    trial = stats[0]
    lines = [
        "| run | samples/s (median epoch) | time (s) |", "|---|---:|---:|",
        f"| standalone loop, cold (first in its process) | - | {cold_wall:.2f} |",
        f"| standalone loop, warm | {standalone_rate:,.0f} | {standalone_wall:.2f} |",
        f"| one Tune trial (in the trial) | {trial['rate']:,.0f} | {trial['time']:.2f} |",
        f"| one Tune trial (sweep wall, Ray start included) | - | {wall:.2f} |",
        "",
        f"One Tune trial against the standalone loop: in-trial time "
        f"{100 * (trial['time'] / cold_wall - 1):+.1f}% vs cold, "
        f"{100 * (trial['time'] / standalone_wall - 1):+.1f}% vs warm; per-epoch samples/s "
        f"{100 * (trial['rate'] / standalone_rate - 1):+.1f}%.", "",
    ]
    return lines


if __name__ == "__main__":
    main()
