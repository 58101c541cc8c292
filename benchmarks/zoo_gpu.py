"""The time-series model zoo on one GPU: training speed, and fidelity to the published results.

    python benchmarks/zoo_gpu.py throughput --out OUT          # samples/s, 1 and 8 trials per GPU
    python benchmarks/zoo_gpu.py fidelity --data benchmarks/data --out OUT --workers 12
    python benchmarks/zoo_gpu.py table --out OUT               # markdown tables from OUT

throughput: each family (configs/<family>.yaml's model, paper sizes) trains on synthetic series
of 1,000 steps (4 channels, 9 classes, 1,024 training sequences, batches of 64) through
``core.loop.fit``; a row gives the median training samples/s of the epochs after the first, for
one process alone and summed over 8 processes started together on the GPU (8 trials per GPU),
and the peak GPU memory each process allocated (``torch.cuda.max_memory_allocated``).

fidelity: each family trains with its paper's defaults (configs/<family>.yaml; FCN and ResNet
batches of min(16 or 64, N/10) as the reference code) on the official train split of each data
set (no validation: the last epoch is the model) and is scored on the official test split:
accuracy, or RMSE in the target's units. Univariate UCR sets are z-normalised per series first,
as the reference code does. ``--budget`` stops a run after that many seconds of training (the
epochs reached are reported), ``--max-epochs`` caps the paper's epochs. Results are one JSON line
per run in OUT/fidelity.jsonl and test probabilities in OUT/probs/ (for the 5-seed ensemble).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAMILIES = ("fcn", "resnet", "inception_time", "minirocket")
# data set -> (npz file, task type, per-series z-normalisation as the reference code)
SETS = {
    "ACSF1": ("acsf1.npz", "multiclass", True),
    "ItalyPowerDemand": ("italy_power_demand.npz", "binary", True),
    "PigCVP": ("pig_cvp.npz", "multiclass", True),
    "PLAID": ("plaid.npz", "multiclass", True),
    "JapaneseVowels": ("japanese_vowels.npz", "multiclass", False),
    "Covid3Month": ("covid3month.npz", "regression", False),
    "CardanoSentiment": ("cardano_sentiment.npz", "regression", False),
}
PAPER_BATCH = {"fcn": 16, "resnet": 64}  # min(batch, N / 10) in hfawaz/dl-4-tsc


class _TimeUp(Exception):
    pass


def _fit_job(job: dict) -> dict:
    """One fidelity run; returns its result row (and writes test outputs to probs/)."""
    import numpy as np
    import torch

    from core.checkpoint import load_checkpoint
    from core.config import load_config
    from core.data import load_data
    from core.loop import fit
    from core.models import build_model

    torch.set_num_threads(1)
    out = Path(job["out"])
    name, family, seed = job["set"], job["family"], job["seed"]
    file, task, znorm = SETS[name]
    src = Path(job["data"]) / file
    path = src
    if znorm:
        arrays = dict(np.load(src, allow_pickle=False))
        x = arrays["X"].astype(np.float64)
        lengths = arrays.get("lengths")
        valid = np.ones(x.shape[:2], bool) if lengths is None else \
            np.arange(x.shape[1])[None, :] < lengths[:, None]
        w = valid[..., None]
        n = w.sum(1, keepdims=True)
        mean = (x * w).sum(1, keepdims=True) / n
        std = np.sqrt((((x - mean) * w) ** 2).sum(1, keepdims=True) / n)
        arrays["X"] = (((x - mean) / np.where(std > 1e-8, std, 1.0)) * w).astype(np.float32)
        path = out / "data" / f"{src.stem}_znorm_{os.getpid()}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)
    sets = ["data.source=npz", f"data.path={path}", f"task.type={task}",
            f"experiment.seed={seed}", f"experiment.device={job['device']}",
            f"experiment.name={family}-{name}-{seed}"]
    if task == "binary":
        sets.append("task.positive_class=2")
    cfg = load_config(ROOT / "configs" / f"{family}.yaml", sets)
    data = load_data(cfg.data, cfg.task)
    if family in PAPER_BATCH:
        cfg.training.batch_size = max(1, int(min(len(data.train) / 10, PAPER_BATCH[family])))
    if job["max_epochs"]:
        cfg.training.epochs = min(cfg.training.epochs, job["max_epochs"])
    ckpt = out / "data" / f"ckpt_{os.getpid()}.pt"
    t0 = time.perf_counter()
    epochs = [0]

    def reporter(metrics, write_checkpoint):
        epochs[0] = metrics["epoch"]
        if time.perf_counter() - t0 > job["budget"] and metrics["epoch"] < cfg.training.epochs:
            write_checkpoint(ckpt)
            raise _TimeUp

    try:
        result = fit(cfg, data, reporter=reporter)
        model = result.model
        last = result.history[-1]
    except _TimeUp:
        state = load_checkpoint(ckpt)
        model = build_model(cfg.model, data.num_features, data.num_outputs).to(job["device"])
        model.load_state_dict(state["model"])
        last = state["history"][-1]
    wall = time.perf_counter() - t0
    model.eval()
    test = data.test.to(job["device"])
    with torch.no_grad():
        outs = torch.cat([model(test.x[i:i + 256], None if test.lengths is None else
                                test.lengths[i:i + 256]) for i in range(0, len(test), 256)])
    outs = outs.float().cpu()
    y = test.y.cpu()
    if task == "multiclass":
        probs = outs.softmax(-1)
        metric = float((probs.argmax(-1) == y).float().mean())
    elif task == "binary":
        probs = outs.squeeze(-1).sigmoid()
        metric = float(((probs > 0.5).float() == y).float().mean())
    else:
        probs = outs * data.target_std + data.target_mean  # original units
        truth = y * data.target_std + data.target_mean
        metric = float(((probs - truth) ** 2).mean().sqrt())
    (out / "probs").mkdir(parents=True, exist_ok=True)
    np.save(out / "probs" / f"{name}__{family}__{seed}.npy", probs.numpy())
    np.save(out / "probs" / f"{name}__truth.npy",
            (y * data.target_std + data.target_mean).numpy() if task == "regression"
            else y.numpy())
    if znorm:
        path.unlink(missing_ok=True)
    ckpt.unlink(missing_ok=True)
    return {"set": name, "family": family, "seed": seed, "task": task,
            "metric": "rmse" if task == "regression" else "accuracy", "value": metric,
            "epochs": int(last["epoch"]), "paper_epochs": int(load_config(
                ROOT / "configs" / f"{family}.yaml").training.epochs),
            "train_loss": float(last["train_loss"]), "wall_s": round(wall, 1),
            "batch_size": cfg.training.batch_size, "n_train": len(data.train)}


def fidelity(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for name in args.sets:
        for family in args.families:
            seeds = range(5 if family == "inception_time" else args.seeds)
            for seed in seeds:
                jobs.append({"set": name, "family": family, "seed": seed, "out": str(out),
                             "data": args.data, "budget": args.budget,
                             "max_epochs": args.max_epochs, "device": args.device})
    # Longest first: long series and many epochs.
    order = ["PLAID", "PigCVP", "ACSF1", "JapaneseVowels", "Covid3Month", "ItalyPowerDemand",
             "CardanoSentiment"]
    jobs.sort(key=lambda j: (order.index(j["set"]), j["family"] == "minirocket"))
    rows_file = out / "fidelity.jsonl"
    logging.basicConfig(level=logging.WARNING)
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_fit_job, j): j for j in jobs}
        for fut in as_completed(futures):
            j = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # report and go on: one failed run is one missing cell
                row = {"set": j["set"], "family": j["family"], "seed": j["seed"],
                       "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(row), flush=True)
            with rows_file.open("a") as f:
                f.write(json.dumps(row) + "\n")


def _throughput_worker(family: str, precision: str, graph: bool, epochs: int,
                       samples: int) -> dict:
    import torch

    from core.config import load_config
    from core.loop import fit

    torch.set_num_threads(1)
    cfg = load_config(ROOT / "configs" / f"{family}.yaml", [
        "experiment.device=cuda", "data.val_fraction=0", "data.test_fraction=0",
        f"data.synthetic.num_samples={samples}", "data.synthetic.seq_len=1000",
        "data.synthetic.num_channels=4", "training.batch_size=64", f"training.epochs={epochs}",
        f"training.precision={precision}", f"training.cuda_graph={str(graph).lower()}"])
    torch.cuda.reset_peak_memory_stats()
    result = fit(cfg)
    rates = [h["samples_per_s"] for h in result.history[1:]]
    return {"family": family, "precision": precision, "graph": graph,
            "samples_per_s": statistics.median(rates),
            "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30}


def throughput(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for family in args.families:
        for k, precision, graph in ((1, "fp32", False), (1, "bf16", True), (8, "bf16", True)):
            if k == 8 and args.no_packing:
                continue
            cmd = [sys.executable, __file__, "worker", family, precision, str(graph),
                   str(args.epochs), str(args.samples)]
            t0 = time.perf_counter()
            procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(k)]
            results = []
            for p in procs:
                text, _ = p.communicate()
                lines = [ln for ln in text.splitlines() if ln.startswith("{")]
                results.append(json.loads(lines[-1]) if lines else None)
            ok = [r for r in results if r]
            row = {"family": family, "trials": k, "precision": precision, "graph": graph,
                   "samples_per_s": sum(r["samples_per_s"] for r in ok),
                   "per_trial": statistics.median(r["samples_per_s"] for r in ok) if ok else 0,
                   "peak_mem_gib": max((r["peak_mem_gib"] for r in ok), default=0),
                   "failed": k - len(ok), "wall_s": round(time.perf_counter() - t0, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
            with (out / "throughput.jsonl").open("a") as f:
                f.write(json.dumps(row) + "\n")


def table(args) -> None:
    import numpy as np

    out = Path(args.out)
    for line in _throughput_table(out):
        print(line)
    rows = [json.loads(ln) for ln in (out / "fidelity.jsonl").read_text().splitlines()
            if ln.strip()] if (out / "fidelity.jsonl").exists() else []
    ok = [r for r in rows if "error" not in r]
    for r in rows:
        if "error" in r:
            print(f"failed: {r['set']} {r['family']} seed {r['seed']}: {r['error']}")
    print("\n| data set | family | seeds 0-2 (mean, range) | epochs run / paper "
          "| 5-seed ensemble |")
    print("|---|---|---|---|---|")
    for name in SETS:
        for family in FAMILIES:
            mine = sorted((r for r in ok if r["set"] == name and r["family"] == family),
                          key=lambda r: r["seed"])
            if not mine:
                continue
            three = [r["value"] for r in mine if r["seed"] < 3]
            ens = ""
            if len(mine) >= 5:
                probs = [np.load(out / "probs" / f"{name}__{family}__{r['seed']}.npy")
                         for r in mine[:5]]
                truth = np.load(out / "probs" / f"{name}__truth.npy")
                p = np.mean(probs, 0)
                task = mine[0]["task"]
                if task == "multiclass":
                    ens = f"{(p.argmax(-1) == truth).mean():.3f}"
                elif task == "binary":
                    ens = f"{((p > 0.5) == truth).mean():.3f}"
                else:
                    ens = f"{np.sqrt(((p - truth) ** 2).mean()):.4f}"
            digits = 4 if mine[0]["task"] == "regression" else 3
            epochs = sorted({r["epochs"] for r in mine})
            print(f"| {name} | {family} | {np.mean(three):.{digits}f} ({min(three):.{digits}f}"
                  f"-{max(three):.{digits}f}) | {epochs[0]}-{epochs[-1]} / "
                  f"{mine[0]['paper_epochs']} | {ens} |")


def _throughput_table(out: Path) -> list[str]:
    f = out / "throughput.jsonl"
    if not f.exists():
        return []
    lines = ["| family | trials per GPU | precision | CUDA graph | samples/s (all trials) | "
             "per trial | peak GPU memory per trial (GiB) |", "|---|---|---|---|---|---|---|"]
    for ln in f.read_text().splitlines():
        r = json.loads(ln)
        lines.append(f"| {r['family']} | {r['trials']} | {r['precision']} | "
                     f"{'on' if r['graph'] else 'off'} | {r['samples_per_s']:,.0f} | "
                     f"{r['per_trial']:,.0f} | {r['peak_mem_gib']:.2f} |")
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        family, precision, graph, epochs, samples = sys.argv[2:7]
        logging.basicConfig(level=logging.WARNING)
        print(json.dumps(_throughput_worker(family, precision, graph == "True", int(epochs),
                                            int(samples))))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cmd", choices=("throughput", "fidelity", "table"))
    p.add_argument("--out", required=True, help="folder for the results (JSON lines)")
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--epochs", type=int, default=3, help="throughput: epochs per run")
    p.add_argument("--samples", type=int, default=1024, help="throughput: training sequences")
    p.add_argument("--no-packing", action="store_true", help="throughput: skip 8 trials")
    p.add_argument("--data", default=str(ROOT / "benchmarks" / "data"),
                   help="fidelity: folder of the NPZ files (benchmarks/real_data.py)")
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    p.add_argument("--seeds", type=int, default=3, help="fidelity: seeds (inception_time: 5)")
    p.add_argument("--workers", type=int, default=12, help="fidelity: runs at a time")
    p.add_argument("--budget", type=float, default=300.0,
                   help="fidelity: seconds of training per run")
    p.add_argument("--max-epochs", type=int, default=0, help="fidelity: cap on the paper's "
                                                             "epochs (0: none)")
    p.add_argument("--device", default="cuda", help="fidelity: device of the runs")
    args = p.parse_args()
    {"throughput": throughput, "fidelity": fidelity, "table": table}[args.cmd](args)


if __name__ == "__main__":
    main()
