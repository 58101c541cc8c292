"""The analysis' files: the runs' summaries and retrains read from ``--out``, and ``table.md``,
``results.json`` and ``anytime.png`` written there (atomically, through ``core.files``). The
numbers come from the pure functions of ``benchmarks.compare.analysis``."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from benchmarks.compare.analysis import (
    final_choices,
    mean,
    method_stats,
    retrain_dir,
    score_run,
    table_lines,
    target_method,
    timeline,
)
from benchmarks.compare.summary import SUMMARY_FILE, write_json
from benchmarks.compare.tasks import METHODS, TASKS, confirm_text
from core.files import atomic_write_text

__all__ = ["analyse", "load_runs", "retrain_tests", "run_seed"]


def run_seed(path: Path) -> int:
    """The seed of a run directory ``<method>-s<seed>``."""
    return int(path.name.rsplit("-s", 1)[1])


def retrain_tests(run_dir: Path, choice: dict | None, test_metric: str,
                  seeds: list[int] | None) -> list[float]:
    """The held-out test metric of ``choice`` retrained in ``run_dir``, one per seed found
    (``seeds``: only these; None: all)."""
    if not choice or choice.get("params") is None:
        return []
    out = []
    prefix = retrain_dir(run_dir, choice["params"], 0).name.rsplit("-s", 1)[0]
    for path in sorted(run_dir.glob(f"{prefix}-s*/{SUMMARY_FILE}")):
        if seeds is not None and run_seed(path.parent) not in seeds:
            continue
        try:
            test = json.loads(path.read_text()).get("test") or {}
        except ValueError:
            continue
        if test.get(test_metric) is not None:
            out.append(float(test[test_metric]))
    return out


def load_runs(out: Path, methods, budget: float, notes: list[str],
              trials: int | None = None) -> tuple[dict, dict]:
    """Every readable run under ``out``, by method (its ``timeline`` with ``seed``, ``choices``
    and ``confirmation``); and what the runs say of the task (task, metric, mode). ``trials``:
    the command's ``--trials`` (a run may then end before the budget)."""
    runs: dict[str, list[dict]] = {}
    facts: dict = {}
    for m in methods:
        for path in sorted(out.glob(f"{m}-s*/{SUMMARY_FILE}"), key=lambda p: run_seed(p.parent)):
            seed = run_seed(path.parent)
            try:
                summary = json.loads(path.read_text())
            except ValueError:
                notes.append(f"{m} seed {seed}: unreadable summary.json, left out")
                continue
            if not summary["trials"]:
                notes.append(f"{m} seed {seed}: trained no trial, left out (raise --budget)")
                continue
            for key in ("task", "metric", "mode"):
                facts.setdefault(key, summary.get(key))
            tl = timeline(summary, budget)
            tl.update(seed=seed, choices=final_choices(m, summary, budget),
                      confirmation=summary.get("confirmation"))
            # (a with confirmation ends inside its budget by design: its clock starts earlier)
            if m != "a" and tl["covered"] is not None and tl["covered"] < budget:
                why = f"its --trials {trials} were done" if trials else "raise --slack"
                notes.append(f"{m} seed {seed}: the run ended {tl['covered']:.0f} s after its "
                             f"first step, before the {budget:g} s budget ({why})")
            runs.setdefault(m, []).append(tl)
    return runs, facts


def analyse(args, quiet: bool = False) -> dict:
    """The table (``table.md``), ``results.json`` and ``anytime.png`` from whatever runs and
    retrains are in ``args.out``; missing seeds, methods and retrains are left out and listed.
    Returns what results.json holds.

    Raises:
        SystemExit: no run with a full-length trial.
    """
    manifest = {}
    if (args.out / "run.json").exists():
        manifest = json.loads((args.out / "run.json").read_text())
    budget = args.budget if args.budget is not None else manifest.get("budget", 90.0)
    notes: list[str] = []
    runs, facts = load_runs(args.out, args.methods, budget, notes, manifest.get("trials"))
    mode = facts.get("mode") or "max"
    metric = facts.get("metric") or "val_accuracy"
    task = facts.get("task") or manifest.get("task") or "default"
    test_metric = TASKS[task].test_metric if task in TASKS else "test_accuracy"
    retrain_seeds = args.retrain_seeds if getattr(args, "retrain_seeds_given", False) else None
    target_m, target_name = target_method(runs, mode)
    target = statistics.median(r["final"] for r in runs[target_m] if r["final"] is not None)
    rows = {}
    for m, rs in runs.items():
        rows[m] = []
        for r in rs:
            run_dir = args.out / f"{m}-s{r['seed']}"
            tests = {k: mean(retrain_tests(run_dir, r["choices"].get(k), test_metric,
                                           retrain_seeds)) for k in ("final", "search_best")}
            rows[m].append(score_run(m, r, tests["final"], tests["search_best"], budget, target,
                                     mode, notes))
    confirm = confirm_text(tuple(manifest.get("confirm") or (0, 0)))
    heading = (f"Task {task}: {TASKS[task].about if task in TASKS else task}. Budget {budget:g} s "
               f"per run after start-up; selection metric {metric} ({mode}); held-out criterion "
               f"{test_metric} of each method's final choice, retrained (mean over the retrain "
               f"seeds of a run); a: --confirm {confirm}; target = median final of {target_name} "
               f"= {target:.4f}.")
    text = "\n".join(table_lines(rows, heading=heading, metric=metric, test_metric=test_metric,
                                 confirm=confirm, notes=notes))
    if not quiet:
        print(text)
    atomic_write_text(args.out / "table.md", text + "\n")
    results = {"task": task, "budget": budget, "metric": metric, "mode": mode,
               "test_metric": test_metric, "target": {"method": target_m, "value": target},
               "manifest": manifest, "methods": method_stats(rows),
               "runs": [r for rs in rows.values() for r in rs], "notes": notes}
    write_json(args.out / "results.json", results)
    plot(runs, target, target_m, budget, metric, args.out, quiet)
    return results


def plot(runs, target: float, target_m: str, budget: float, metric: str, out: Path,
         quiet: bool) -> None:
    """``anytime.png``: each run's best full-length score so far against time, and the target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    colors = {"a": "tab:blue", "b": "tab:orange", "c": "tab:green", "d": "tab:red"}
    for m, rs in runs.items():
        for i, r in enumerate(rs):
            xs = [0.0] + [t for t, _ in r["curve"]] + [budget]
            ys = [None] + [v for _, v in r["curve"]] + [r["curve"][-1][1] if r["curve"] else None]
            pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
            if pts:
                ax.step([x for x, _ in pts], [y for _, y in pts], where="post",
                        color=colors[m], alpha=0.85, lw=1.5,
                        label=f"{m}: {METHODS[m]}" if i == 0 else None)
    ax.axhline(target, color="grey", ls="--", lw=1, label=f"target (median final of {target_m})")
    ax.set_xlim(0, budget)
    ax.set_xlabel("seconds since the first training step")
    ax.set_ylabel(f"best {metric}, full-length trials")
    ax.set_title("Best configuration found so far (one line per seed)")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "anytime.png")
    plt.close(fig)
    if not quiet:
        print(f"plot: {out / 'anytime.png'}")
