"""How much hyperparameters matter on the embedded data set: good versus poor configurations.

    python benchmarks/synthetic_spread.py [--set data.synthetic.noise=0.8] [--epochs 20]
    python benchmarks/synthetic_spread.py --config configs/binary.yaml  # multilabel, regression

Trains a few configurations from inside ``search_spaces/gru.yaml``'s ranges and prints the best
value of each of the checkpoint metric (val_accuracy for the default multiclass set; the task's
own for the synthetic variant of another task type): the spread a search must find its way
through.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.cli import int_at_least
from core.config import load_config  # noqa: E402
from core.data import load_data  # noqa: E402
from core.errors import NonFiniteLossError  # noqa: E402
from core.loop import fit  # noqa: E402

CANDIDATES = {
    "good: lr 3e-3, h128, 1 layer, bs 128": ["optim.lr=3e-3", "model.hidden_size=128"],
    "good: lr 2e-3, h256, 2 layers, bs 256": ["optim.lr=2e-3", "model.hidden_size=256",
                                             "model.num_layers=2", "training.batch_size=256"],
    "lr too low: 1e-5": ["optim.lr=1e-5"],
    "lr low: 1e-4": ["optim.lr=1e-4"],
    "lr too high: 0.05": ["optim.lr=0.05"],
    "narrow: h16": ["model.hidden_size=16"],
    "big batch, low lr: bs 512, 3e-4": ["training.batch_size=512", "optim.lr=3e-4"],
    "heavy decay: wd 0.3, lr 1e-3": ["optim.weight_decay=0.3", "optim.lr=1e-3"],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="configs/gru.yaml")
    p.add_argument("--epochs", type=int_at_least(1), default=20)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = args.overrides + [f"training.epochs={args.epochs}"]
    base_cfg = load_config(args.config, base)
    data = load_data(base_cfg.data, base_cfg.task)
    metric = base_cfg.training.checkpoint_metric
    rows = []
    for name, over in CANDIDATES.items():
        cfg = load_config(args.config, base + over)
        t0 = time.perf_counter()
        try:
            r = fit(cfg, data)
            best, last = r.best_metric, r.history[-1][metric]
        except NonFiniteLossError:
            best = last = float("nan")  # diverged
        rows.append((name, best, last, time.perf_counter() - t0))
        print(f"{name}: best {metric} {best:.3f} ({rows[-1][3]:.0f} s)", flush=True)
    print(f"\nconfig {args.config} {' '.join(base)}")
    print(f"| configuration | best {metric} | final {metric} | time (s) |")
    print("|---|---:|---:|---:|")
    for name, best, last, secs in rows:
        shown = ("diverged (NaN loss)", "-") if best != best else (f"{best:.3f}", f"{last:.3f}")
        print(f"| {name} | {shown[0]} | {shown[1]} | {secs:.0f} |")


if __name__ == "__main__":
    main()
