"""The confirmation phase: the search's best configurations retrained on fresh seeds.

The search picks its best trial by the maximum of noisy validation scores, and the more trials
it runs the more optimistic that maximum is (selection bias). With ``confirm: {top_k: K, seeds:
S}`` in the space (or ``--confirm K,S``), once the search has ended the sweep retrains the K best
distinct configurations at full length (``max_epochs``, no ASHA) on S fresh seeds each, and the
winner is the configuration with the best mean confirmed score (docs/confirmation.md).

- Candidates: the search's COMPLETE trials (trained to ``max_epochs``) by their score (best
  epoch's metric), then, only if fewer than K distinct configurations completed, PRUNED trials
  by the epoch they reached and then their best score; warm-start copies never. Configurations
  are distinct by their parameters.
- Seeds: ``experiment.seed`` values no search trial used, counting up from the base config's.
- Runs: ordinary trials of a second Optuna study in the same study.db, ``<name>-confirm``
  (``tuning.study.open_confirm_study``), named ``c0000``, ``c0001``, ...; the search's sampler
  never sees them. They are created (RUNNING, parameters fixed) before any runs, so a resume
  reconciles them like search trials (``tuning.execution.reconcile``): finished runs are not run
  again.
- A run's confirmed score is its **last** epoch's metric (no selection over epochs: the model a
  retrain of the exported config ends with), and its test metric ``test_<name>`` is that model's
  on the test split.
- Per candidate: mean, sample standard deviation and a 95% t-interval over its completed runs;
  ``confirmation.json`` and ``confirmation.csv`` hold them, and the winner.

This module imports neither Ray nor torch at import time (export and the report read its files).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
from pathlib import Path
from typing import Any

from core.files import atomic_write_text
from tuning.record import CONFIRMATION_CSV_FILE, CONFIRMATION_FILE, finite, trial_history
from tuning.space import SearchSpace

__all__ = ["candidates", "confirm_arg", "confirm_key", "confirmed_winner", "fresh_seeds",
           "held_out_metric", "interval", "metric_range", "plan", "read_confirmation", "summarize",
           "write_confirmation"]

log = logging.getLogger("tuning")


def confirm_arg(text: str) -> tuple[int, int]:
    """The value of ``--confirm K,S`` (or ``0``: off) as (top_k, seeds); an argparse type.

    Raises:
        argparse.ArgumentTypeError: anything but two integers of at least 1, or ``0``.

    Example:
        >>> confirm_arg("5,3"), confirm_arg("0")
        ((5, 3), (0, 0))
    """
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if parts == [0]:
        return (0, 0)
    if len(parts) != 2 or parts[0] < 1 or parts[1] < 1:
        raise argparse.ArgumentTypeError(f"expected K,S with K >= 1 and S >= 1, or 0; got {text!r}")
    return parts[0], parts[1]


def confirm_key(number: int) -> str:
    """Name of confirmation run ``number`` (its trial number in the confirmation study).

    Example:
        >>> confirm_key(3)
        'c0003'
    """
    return f"c{number:04d}"


def held_out_metric(metric: str) -> str:
    """The test-split name of a validation metric.

    Example:
        >>> held_out_metric("val_accuracy")
        'test_accuracy'
    """
    return "test_" + metric.removeprefix("val_")


def _signature(params: dict) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def candidates(trials: list, space: SearchSpace, k: int) -> list[dict]:
    """The ``k`` best distinct configurations among the search's ``trials`` (Optuna
    ``FrozenTrial``), best first: COMPLETE trials by their value, then PRUNED ones by the epoch
    they reached and their best intermediate value (see the module's docstring). Each is
    ``{"trial": key, "params": {...}, "search_score": float, "epochs": int, "complete": bool}``.
    """
    from tuning.record import trial_key

    sign = 1.0 if space.mode == "max" else -1.0
    ranked = []
    for t in trials:
        if "warm_start_from" in t.user_attrs or not t.intermediate_values:
            continue
        values = [v for v in t.intermediate_values.values() if finite(v)]
        if not values or t.state.name not in ("COMPLETE", "PRUNED"):
            continue
        score = (max if space.mode == "max" else min)(values)
        complete = t.state.name == "COMPLETE"
        epochs = max(t.intermediate_values)
        ranked.append(((complete, epochs if not complete else 0, sign * score, -t.number),
                       {"trial": trial_key(t.number), "params": dict(t.user_attrs.get("params")
                                                                     or t.params),
                        "search_score": score, "epochs": epochs, "complete": complete}))
    ranked.sort(key=lambda r: r[0], reverse=True)
    out, seen = [], set()
    for _, c in ranked:
        sig = _signature(c["params"])
        if sig not in seen:
            seen.add(sig)
            out.append(c)
        if len(out) == k:
            break
    return out


def fresh_seeds(base_seed: int, used: set[int], n: int) -> list[int]:
    """``n`` seeds after ``base_seed`` that are not in ``used``.

    Example:
        >>> fresh_seeds(0, {0, 2}, 3)
        [1, 3, 4]
    """
    out, s = [], base_seed
    while len(out) < n:
        s += 1
        if s not in used:
            out.append(s)
    return out


def plan(confirm, search, space: SearchSpace, base: dict) -> list[dict]:
    """Creates the confirmation runs in the ``confirm`` study (once; a resume adds only the
    missing ones) and returns the candidates. The candidates and seeds are fixed in the study's
    user attributes the first time, so a resume never re-ranks them."""
    attrs = confirm.user_attrs
    if "candidates" not in attrs:
        trials = search.get_trials(deepcopy=False)
        cands = candidates(trials, space, space.confirm_top_k)
        base_seed = int(base.get("experiment", {}).get("seed", 0))
        used = {base_seed} | {int(t.user_attrs["params"]["experiment.seed"]) for t in trials
                              if "experiment.seed" in (t.user_attrs.get("params") or {})}
        confirm.set_user_attr("seeds", fresh_seeds(base_seed, used, space.confirm_seeds))
        confirm.set_user_attr("candidates", cands)  # last: its presence means "planned"
        attrs = confirm.user_attrs
    from optuna.trial import TrialState, create_trial

    cands, seeds = attrs["candidates"], attrs["seeds"]
    have = {(t.user_attrs.get("candidate"), t.user_attrs.get("seed"))
            for t in confirm.get_trials(deepcopy=False)}
    for seed in seeds:  # seed-major: every candidate gets a run before any gets a second
        for i, c in enumerate(cands):
            if (i, seed) in have:
                continue
            confirm.add_trial(create_trial(state=TrialState.RUNNING, user_attrs={
                "params": {**c["params"], "experiment.seed": seed}, "candidate": i,
                "search_trial": c["trial"], "seed": seed}))
    return cands


def interval(values: list[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, sample standard deviation and the two-sided ``level`` t-interval of the mean
    (Student's t with n - 1 degrees of freedom, ``scipy.stats.t``); the deviation and interval
    are NaN with fewer than two values, all four with none.

    Example:
        >>> [round(v, 3) for v in interval([1.0, 2.0, 3.0])]
        [2.0, 1.0, -0.484, 4.484]
    """
    n = len(values)
    if n == 0:
        return (math.nan,) * 4
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    from scipy.stats import t

    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def metric_range(metric: str) -> tuple[float, float]:
    """The values a validation metric can take: [0, 1] for the classification metrics
    (accuracy, F1, AUROC, average precision, ...), (-inf, 1] for R^2, else unbounded.

    Example:
        >>> metric_range("val_auroc"), metric_range("val_r2"), metric_range("val_rmse")
        ((0.0, 1.0), (-inf, 1.0), (-inf, inf))
    """
    from core.tasks import metrics_for

    if metric == "val_r2":
        return -math.inf, 1.0
    if metric in ("val_loss", "train_loss") or metric in metrics_for("regression"):
        return -math.inf, math.inf
    return 0.0, 1.0


def summarize(exp_dir: Path, space: SearchSpace, confirm) -> dict:
    """The confirmation's outcome from its study and the runs' histories: per candidate its
    runs, n, mean, sd, 95% interval, mean test metric and test_n (the runs it averages: fewer
    than n only where a run's test metric was lost), and the winner (best mean among
    candidates with a completed run; ties go to the better search rank). Only COMPLETE runs
    count."""
    test_name = held_out_metric(space.metric)
    cands = [dict(c, runs=[]) for c in confirm.user_attrs.get("candidates", [])]
    for t in confirm.get_trials(deepcopy=False):
        i = t.user_attrs.get("candidate")
        if i is None or i >= len(cands):
            continue
        history = trial_history(exp_dir, confirm_key(t.number))
        last = history[-1] if history else {}
        # A driver killed with kill -9 can lose Tune's last result.json lines; the study, which
        # closed the run, holds every epoch's metric.
        complete = t.state.name == "COMPLETE" and space.max_epochs in t.intermediate_values
        if last.get("epoch") != space.max_epochs:
            last = {}
        # The study keeps the test metrics (the searcher, or a resume from the checkpoint);
        # the history's last row is the fallback for sweeps from before it did.
        test = (t.user_attrs.get("test_metrics") or {}).get(test_name, last.get(test_name))
        cands[i]["runs"].append({"trial": confirm_key(t.number), "seed": t.user_attrs["seed"],
                                 "status": t.state.name.lower(),
                                 "value": t.intermediate_values[space.max_epochs]
                                 if complete else None,
                                 "test": test if complete else None})
    for c in cands:
        values = [r["value"] for r in c["runs"] if finite(r["value"])]
        tests = [r["test"] for r in c["runs"] if finite(r["value"]) and finite(r["test"])]
        c["n"] = len(values)
        c["mean"], c["sd"], c["low"], c["high"] = interval(values)
        # A t interval of few runs can pass a bounded metric's range (AUROC above 1): cut there.
        lo, hi = metric_range(space.metric)
        c["low"], c["high"] = max(c["low"], lo), min(c["high"], hi)  # NaN (one run) stays NaN
        c["test_mean"] = sum(tests) / len(tests) if tests else math.nan
        c["test_n"] = len(tests)  # < n only if a run's test metric was lost: stated, not hidden
    sign = 1.0 if space.mode == "max" else -1.0
    done = [i for i, c in enumerate(cands) if c["n"]]
    winner = max(done, key=lambda i: (sign * cands[i]["mean"], -i)) if done else None
    return {"metric": space.metric, "test_metric": test_name, "mode": space.mode,
            "score": "last epoch", "level": 0.95, "seeds": confirm.user_attrs.get("seeds", []),
            "candidates": cands, "winner": winner}


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


def write_confirmation(exp_dir: Path, summary: dict) -> None:
    """Writes ``confirmation.json`` (everything ``summarize`` returns; NaN as null) and
    ``confirmation.csv`` (one row per candidate, search rank order) atomically."""
    exp_dir = Path(exp_dir)
    atomic_write_text(exp_dir / CONFIRMATION_FILE,
                      json.dumps(_jsonable(summary), indent=1) + "\n")
    m, tm = summary["metric"], summary["test_metric"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "search_trial", "winner", f"search_{m}", "runs", f"mean_{m}", f"sd_{m}",
                "ci95_low", "ci95_high", f"mean_{tm}", f"{tm}_runs", "run_trials"])
    for i, c in enumerate(summary["candidates"]):
        w.writerow([i + 1, c["trial"], int(i == summary["winner"]), c["search_score"], c["n"],
                    *("" if not finite(c[k]) else c[k]
                      for k in ("mean", "sd", "low", "high", "test_mean")),
                    c["test_n"], " ".join(r["trial"] for r in c["runs"])])
    atomic_write_text(exp_dir / CONFIRMATION_CSV_FILE, buf.getvalue())


def read_confirmation(exp_dir: Path) -> dict | None:
    """``confirmation.json`` of the sweep in ``exp_dir``, or None when it has none."""
    path = Path(exp_dir) / CONFIRMATION_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def confirmed_winner(summary: dict | None) -> tuple[dict, str] | None:
    """The confirmed winner of a confirmation (``read_confirmation``'s summary) and the run
    that stands for it, its first completed confirmation run (the one ``best_config.yaml``
    trains, seed included): (its candidate, that run's key, e.g. "c0001"). None when there was no
    confirmation or none of its runs finished: then the search-phase best stands.

    Example:
        >>> summary = {"winner": 1, "candidates": [{"trial": "t0003", "runs": []},
        ...     {"trial": "t0005", "runs": [{"trial": "c0001", "value": None},
        ...                                 {"trial": "c0003", "value": 0.9}]}]}
        >>> cand, run = confirmed_winner(summary)
        >>> cand["trial"], run
        ('t0005', 'c0003')
    """
    if summary is None or summary.get("winner") is None:
        return None
    cand = summary["candidates"][summary["winner"]]
    return cand, next(r["trial"] for r in cand["runs"] if r["value"] is not None)
