"""Where a new trial worker's start goes: imports, CUDA context, model and data, first step.

    python benchmarks/cold_start.py [--procs 1,8] [--mps off,on] [--set KEY=VALUE ...]

Starts N fresh Python processes at once (as a sweep starts N workers on one GPU), each of which
imports what a trial worker imports, creates its CUDA context, and trains the default config
(``configs/gru.yaml``) for one epoch through ``core.loop.fit``. Prints the median seconds of
each part over the processes:

- python: interpreter start to the first line of this script (site-packages scan);
- torch, ray.tune + ours: the imports of a trial worker;
- data: building the default data set (a sweep's workers fetch it from Ray's object store);
- CUDA context: ``torch.cuda.init`` and a first allocation;
- setup: ``fit`` entry to the first training batch (model on the GPU, data on the GPU);
- first epoch: with the CUDA graph's warm-up and capture, against a later epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_MAIN = time.time()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.cli import int_list, name_list  # noqa: E402

PARTS = ("python", "torch", "ray.tune + ours", "data", "CUDA context", "setup", "first epoch",
         "later epoch", "to first step")


def child(overrides: list[str]) -> dict:
    from tuning.execution import process_started_at

    marks = {"start": process_started_at() or T_MAIN, "main": T_MAIN}
    import torch

    marks["torch"] = time.time()
    import ray.tune  # noqa: F401

    import tuning.execution._trainable  # noqa: F401
    from core.config import load_config
    from core.data import load_data
    from core.loop import fit

    marks["imports"] = time.time()
    cfg = load_config(ROOT / "configs" / "gru.yaml", overrides + ["training.epochs=2"])
    data = load_data(cfg.data, cfg.task)
    marks["data"] = time.time()
    if torch.cuda.is_available():
        torch.cuda.init()
        torch.empty(1, device="cuda")
        torch.cuda.synchronize()
    marks["cuda"] = time.time()
    seen = []
    fit(cfg, data, reporter=lambda m, _: seen.append(m))
    return {"python": marks["main"] - marks["start"], "torch": marks["torch"] - marks["main"],
            "ray.tune + ours": marks["imports"] - marks["torch"],
            "data": marks["data"] - marks["imports"], "CUDA context": marks["cuda"] - marks["data"],
            "setup": seen[0]["setup_s"], "first epoch": seen[0]["epoch_time_s"],
            "later epoch": seen[1]["epoch_time_s"],
            "to first step": marks["cuda"] + seen[0]["setup_s"] - marks["start"]}


def run(n: int, mps: str, overrides: list[str]) -> dict[str, float]:
    env = dict(os.environ)
    daemon = None
    if mps == "on":
        root = Path(tempfile.mkdtemp(prefix="mps-"))
        env.update(CUDA_MPS_PIPE_DIRECTORY=str(root / "pipe"),
                   CUDA_MPS_LOG_DIRECTORY=str(root / "log"))
        for d in ("pipe", "log"):
            (root / d).mkdir()
        subprocess.run(["nvidia-cuda-mps-control", "-d"], env=env, check=True)
        daemon = env
    cmd = [sys.executable, __file__, "--child", *sum((["--set", o] for o in overrides), [])]
    try:
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
                 for _ in range(n)]
        results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    finally:
        if daemon is not None:
            subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", text=True, env=daemon)
    return {k: statistics.median(r[k] for r in results) for k in PARTS}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--procs", type=int_list(1), default="1,8", help="processes started at once")
    p.add_argument("--mps", type=name_list(("off", "on")), default="off,on",
                   help="MPS settings to try for more than 1")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--smoke", action="store_true", help="tiny data and model, for tests")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.smoke:
        from core.train import SMOKE_OVERRIDES

        args.overrides = SMOKE_OVERRIDES + args.overrides
    if args.child:
        print(json.dumps(child(args.overrides)), flush=True)
        return
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    if gpu == "CPU":
        args.mps = ["off"]
    lines = [f"### A new worker's start, {gpu} (medians over the processes, seconds)", "",
             "| processes | MPS | " + " | ".join(PARTS) + " |",
             "|---:|---|" + "---:|" * len(PARTS)]
    print("\n".join(lines), flush=True)
    for n in args.procs:
        for mps in (args.mps if n > 1 else ("off",)):
            row = run(n, mps, args.overrides)
            lines.append(f"| {n} | {mps} | " + " | ".join(f"{row[k]:.2f}" for k in PARTS) + " |")
            print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
