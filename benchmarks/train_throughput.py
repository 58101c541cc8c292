"""Samples/s of the standalone loop: tensor vs dataloader mode, fp32 vs bf16, on CPU and GPU.

    python benchmarks/train_throughput.py                       # every device present
    python benchmarks/train_throughput.py --device cpu --set data.synthetic.num_samples=4000
    python benchmarks/train_throughput.py --config configs/transformer.yaml   # the transformer

Each row trains the config for ``--epochs`` epochs through ``core.loop.fit`` and reports the median
training samples/s of the epochs after the first (warm-up). The "fixed batch" column runs the same
``fit`` with one pre-built batch yielded at every step: the throughput the loop would reach if
feeding data cost nothing. ratio = loop / fixed batch; at 0.9 or more the loop is not input-bound.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import core.loop as loop  # noqa: E402
from core.cli import int_at_least
from core.config import load_config  # noqa: E402
from core.data import BatchSource, load_data  # noqa: E402
from core.loop import fit  # noqa: E402


class _OneBatch(BatchSource):
    """Yields the first batch of the epoch over and over: the loop with free input."""

    def __iter__(self):
        first = next(super().__iter__())
        for _ in range(self.num_batches()):
            yield first


def fixed_batch_rate(cfg, data) -> float:
    """The same ``fit`` (scheduler, logging, checks) with every batch pre-built."""
    real = loop.BatchSource
    loop.BatchSource = _OneBatch
    try:
        result = fit(cfg, data)
    finally:
        loop.BatchSource = real
    return statistics.median(h["samples_per_s"] for h in result.history[1:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/gru.yaml",
                   help="config to train (configs/transformer.yaml: the transformer; "
                        "any config with a user model works too)")
    p.add_argument("--device", choices=("all", "cpu", "cuda"), default="all")
    p.add_argument("--epochs", type=int_at_least(2), default=8)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if not torch.cuda.is_available():
        devices = [d for d in devices if d != "cuda"]
    rows = []
    for dev in devices:
        for mode in ("tensor", "dataloader"):
            for precision in ("fp32", "bf16"):
                cfg = load_config(args.config, args.overrides + [
                    f"experiment.device={dev}", f"loader.mode={mode}",
                    f"training.precision={precision}", f"training.epochs={args.epochs}"])
                data = load_data(cfg.data, cfg.task)
                result = fit(cfg, data)
                rate = statistics.median(h["samples_per_s"] for h in result.history[1:])
                device = result.device
                name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
                ref = fixed_batch_rate(cfg, data) if mode == "tensor" else None
                rows.append((name, mode, precision, rate, ref))
                print(f"{name} {mode} {precision}: {rate:,.0f} samples/s"
                      + (f" (fixed batch {ref:,.0f})" if ref else ""), flush=True)
    for dev in [d for d in devices if d == "cuda"]:
        for label, extra in (("tensor fp32, deterministic", ["experiment.deterministic=true"]),
                             ("tensor fp32, torch.compile", ["training.compile=true"])):
            cfg = load_config(args.config, args.overrides + extra + [
                f"experiment.device={dev}", "loader.mode=tensor", "training.precision=fp32",
                f"training.epochs={args.epochs}"])
            result = fit(cfg, load_data(cfg.data, cfg.task))
            rate = statistics.median(h["samples_per_s"] for h in result.history[1:])
            name = torch.cuda.get_device_name(result.device)
            mode, precision = label.split(" ", 1)[0], label.split(" ", 1)[1]
            rows.append((name, mode, precision, rate, None))
            print(f"{name} {label}: {rate:,.0f} samples/s", flush=True)
    print(f"\nconfig {args.config} {' '.join(args.overrides)}; median of epochs 2..{args.epochs}")
    print("| device | loader | precision | samples/s | fixed batch samples/s | ratio |")
    print("|---|---|---|---:|---:|---:|")
    for name, mode, precision, rate, ref in rows:
        ratio = f"{rate / ref:.2f}" if ref else "-"
        print(f"| {name} | {mode} | {precision} | {rate:,.0f} | "
              f"{f'{ref:,.0f}' if ref else '-'} | {ratio} |")


if __name__ == "__main__":
    main()
