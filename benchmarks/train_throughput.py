"""Samples/s of the standalone loop: tensor vs dataloader mode, fp32 vs bf16, on CPU and GPU.

    python benchmarks/train_throughput.py                       # every device present
    python benchmarks/train_throughput.py --device cpu --set data.synthetic.num_samples=4000

Each row trains the config for ``--epochs`` epochs through ``core.loop.fit`` and reports the median
training samples/s of the epochs after the first (warm-up). The "fixed batch" column replays one
pre-built batch through the same forward/backward/step code: the throughput the loop would reach if
feeding data cost nothing. ratio = loop / fixed batch; at 0.9 or more the loop is not input-bound.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.config import load_config  # noqa: E402
from core.data import BatchSource, load_data  # noqa: E402
from core.loop import build_optimizer, fit, forward_backward, optimizer_step, resolve_precision  # noqa: E402
from core.models import build_model  # noqa: E402


def fixed_batch_rate(cfg, data, device, steps: int) -> float:
    precision = resolve_precision(cfg.training.precision, device, cfg.model.name)
    torch.manual_seed(0)
    model = build_model(cfg.model, data.num_features, data.num_classes).to(device)
    opt = build_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(0)
    x, y, lengths = next(iter(BatchSource(data.train, cfg.loader, device,
                                          cfg.training.batch_size, gen)))
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None

    def run(n):
        for _ in range(n):
            forward_backward(model, x, y, lengths, 1.0, precision, device, scaler)
            optimizer_step(model, opt, scaler, cfg.training.grad_clip_norm)
            opt.zero_grad(set_to_none=True)

    model.train()
    run(10)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    run(steps)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * x.shape[0] / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="configs/gru.yaml")
    p.add_argument("--device", default="all", help="all, cpu or cuda")
    p.add_argument("--epochs", type=int, default=4)
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
                data = load_data(cfg.data)
                result = fit(cfg, data)
                rate = statistics.median(h["samples_per_s"] for h in result.history[1:])
                device = result.device
                name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
                steps = len(data.train) // cfg.training.batch_size
                ref = fixed_batch_rate(cfg, data, device, steps) if mode == "tensor" else None
                rows.append((name, mode, precision, rate, ref))
                print(f"{name} {mode} {precision}: {rate:,.0f} samples/s"
                      + (f" (fixed batch {ref:,.0f})" if ref else ""), flush=True)
    print(f"\nconfig {args.config} {' '.join(args.overrides)}; median of epochs 2..{args.epochs}")
    print("| device | loader | precision | samples/s | fixed batch samples/s | ratio |")
    print("|---|---|---|---:|---:|---:|")
    for name, mode, precision, rate, ref in rows:
        ratio = f"{rate / ref:.2f}" if ref else "-"
        print(f"| {name} | {mode} | {precision} | {rate:,.0f} | "
              f"{f'{ref:,.0f}' if ref else '-'} | {ratio} |")


if __name__ == "__main__":
    main()
