"""How closely a standalone retrain reproduces a sweep's trial, epoch by epoch.

    python benchmarks/reproduce.py runs/sweeps/<name> [--trial t0007] [--repeats 2]

Exports the trial (the best by default) with ``tuning.export``, trains the exported config with
``python -m core.train`` ``--repeats`` times, and prints, per metric, the largest difference over
epochs between each standalone run and the trial's reported history. On CPU the differences are 0;
on a GPU they measure non-deterministic kernels (run-to-run differences of the standalone runs are
printed too, for scale).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.cli import int_at_least  # noqa: E402
from tuning.export import export_best  # noqa: E402
from tuning.record import trial_history  # noqa: E402

METRICS = ("train_loss", "val_loss", "val_accuracy", "val_macro_f1")


def max_diff(a: list[dict], b: list[dict], metric: str) -> float:
    """The largest absolute difference of ``metric`` between two per-epoch histories (rows with
    an ``epoch``; values as numbers or strings, as in metrics.csv), over the epochs both have.

    Raises:
        ValueError: the histories share no epoch.
    """
    by_epoch = {int(r["epoch"]): float(r[metric]) for r in b}
    common = [(float(r[metric]), by_epoch[int(r["epoch"])]) for r in a
              if int(r["epoch"]) in by_epoch]
    if not common:
        raise ValueError("the histories share no epoch")
    return max(abs(x - y) for x, y in common)


def table(trial: list[dict], runs: list[list[dict]]) -> list[str]:
    """The printed comparison: per metric, each standalone run against the trial, and the first
    two runs against each other."""
    lines = ["| metric | max abs diff, standalone vs trial (per run) | max abs diff, run 1 vs "
             "run 2 |", "|---|---|---:|"]
    for m in METRICS:
        diffs = ", ".join(f"{max_diff(r, trial, m):.2e}" for r in runs)
        between = f"{max_diff(runs[0], runs[1], m):.2e}" if len(runs) > 1 else "-"
        lines.append(f"| {m} | {diffs} | {between} |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("sweep", type=Path)
    p.add_argument("--trial")
    p.add_argument("--repeats", type=int_at_least(1), default=2)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "trial.yaml"
        chosen = export_best(args.sweep, cfg, args.trial, allow_partial=True)
        trial = trial_history(args.sweep, chosen["trial"])
        runs = []
        for i in range(args.repeats):
            out = Path(d) / f"run{i}"
            subprocess.run([sys.executable, "-m", "core.train", "--config", str(cfg),
                            "--output-dir", str(out), "--quiet"], cwd=ROOT, check=True)
            runs.append(list(csv.DictReader((out / "metrics.csv").open())))
    print(f"trial {chosen['trial']} of {args.sweep.name}: {len(trial)} epochs reported; "
          f"{len(runs)} standalone run{'' if len(runs) == 1 else 's'} of {len(runs[0])} epochs "
          "each")
    print("\n".join(table(trial, runs)))
    final = [float(r[-1]["val_accuracy"]) for r in runs]
    print(f"final val_accuracy: trial {float(trial[-1]['val_accuracy']):.4f}, standalone "
          + ", ".join(f"{v:.4f}" for v in final))


if __name__ == "__main__":
    main()
