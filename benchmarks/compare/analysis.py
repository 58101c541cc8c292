"""The comparison's analysis as pure functions over the runs' summaries: no files read or
written here (``benchmarks.compare.results`` does that).

``timeline`` cuts one run at the budget; ``final_choices`` applies each method's own rule of
choosing to what it had reported by then; ``target_method`` and ``reach`` give time-to-target;
``score_run`` makes one run's row of results.json, ``method_stats`` the per-method statistics
and ``table_lines`` the markdown table.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

from benchmarks.compare.tasks import METHODS, better

__all__ = ["A_ONLY", "COLUMNS", "final_choices", "format_cell", "mean", "method_stats", "reach",
           "retrain_dir", "score_run", "stats", "table_lines", "target_method", "timeline"]

# results.json's per-method columns: (key, table format); a's own columns only for a.
COLUMNS = (("test_final", ".4f"), ("test_search_best", ".4f"), ("confirmation_share", "%"),
           ("final_at", ".0f"), ("best_val", ".4f"), ("time_to_target", ".0f"),
           ("startup", ".1f"), ("configs", "d"), ("full_length", "d"), ("epochs", "d"),
           ("gpu_util", ".0f"))
A_ONLY = ("test_search_best", "confirmation_share", "confirmation_gain")


def timeline(summary: dict, budget: float) -> dict:
    """Per-run facts within the budget, on a clock that starts at the first training step.

    ``summary``: a run's summary.json (``trials`` non-empty; ``mode`` "max" unless given).
    Returns start-up (s), the best-so-far curve [(s, score)] of full-length trials, ``final``
    (the best full-length score by the budget, None without one), configs started, full-length
    trials, epochs reported, their best configuration's params and the mean GPU utilisation.
    """
    trials = summary["trials"]
    sign = 1.0 if summary.get("mode", "max") == "max" else -1.0
    origin = min(t["first_step"] for t in trials)
    full = []
    epochs = 0
    for t in trials:
        inside = [r for r in t["reports"] if r - origin <= budget]
        epochs += len(inside)
        if len(t["reports"]) >= summary["max_epochs"] and \
                t["reports"][summary["max_epochs"] - 1] - origin <= budget:
            best = max(t["scores"], key=lambda v: sign * v)
            full.append((t["reports"][summary["max_epochs"] - 1] - origin, best, t))
    full.sort(key=lambda x: x[0])
    curve, best, best_trial = [], None, None
    for when, score, t in full:
        if best is None or sign * score > sign * best:
            best, best_trial = score, t
            curve.append((when, score))
    util = [v for w, v in summary.get("util_samples", []) if origin <= w <= origin + budget]
    ended = summary.get("ended")
    return {"startup": origin - summary["launched"], "curve": curve, "final": best,
            "configs": sum(1 for t in trials if t["first_step"] - origin <= budget),
            "full": len(full), "epochs": epochs, "best_params": best_trial and
            best_trial["params"], "util": statistics.fmean(util) if util else None,
            "covered": None if ended is None else ended - origin, "origin": origin,
            "last_report": max(t["reports"][-1] for t in trials if t["reports"]) - origin}


def final_choices(method: str, summary: dict, budget: float) -> dict[str, dict | None]:
    """What each method keeps at the end of its budget, by its own documented rule, applied to
    what it had reported by ``budget`` seconds after its first training step:

    - a: the sweep's confirmed winner (``best_config.yaml``), and its search-phase best (what
      ``tuning.export`` keeps without confirmation), both recorded by the run;
    - b, c: Ray Tune's ``ResultGrid.get_best_result(metric, mode)`` (scope "last"): the trial
      whose last reported score is best, ASHA-stopped trials included;
    - d: Optuna's ``study.best_trial``: the COMPLETE trial with the best value (its best epoch;
      pruned and unfinished trials are not COMPLETE).

    Returns ``{"final": {"params", ...} or None}`` plus, for a, ``"search_best"``.
    """
    if method == "a" and (summary.get("confirmation") or {}).get("top_k"):
        return {"final": summary.get("final_choice"), "search_best": summary.get("search_best")}
    trials = summary["trials"]
    if not trials:
        return {"final": None}
    sign = 1.0 if summary.get("mode", "max") == "max" else -1.0
    origin = min(t["first_step"] for t in trials)
    picked = None
    for t in trials:
        scores = [s for r, s in zip(t["reports"], t["scores"], strict=True)
                  if r - origin <= budget and s == s and abs(s) != float("inf")]
        if not scores:
            continue
        if method == "a":  # without confirmation: tuning.export's best trial (best epoch)
            value = max(scores, key=lambda v: sign * v)
        elif method == "d":
            done = t.get("state", "COMPLETE") == "COMPLETE" and \
                len(t["reports"]) >= summary["max_epochs"] and \
                t["reports"][-1] - origin <= budget
            if not done:
                continue
            value = t.get("value")
            value = max(scores, key=lambda v: sign * v) if value is None else value
        else:
            value = scores[-1]
        if picked is None or sign * value > sign * picked[0]:
            picked = (value, t)
    if picked is None:
        return {"final": None, **({"search_best": None} if method == "a" else {})}
    source = {"a": "best trial (tuning.export, no confirmation)", "b": "get_best_result "
              "(scope last)", "c": "get_best_result (scope last)", "d": "study.best_trial"}
    final = {"params": picked[1]["params"], "score": picked[0], "source": source[method]}
    return {"final": final, **({"search_best": final} if method == "a" else {})}


def reach(curve, target: float, mode: str = "max") -> float | None:
    """The first time the best-so-far ``curve`` [(s, score)] reaches ``target``, or None."""
    return next((t for t, v in curve if (v >= target if mode == "max" else v <= target)), None)


def format_cell(values, spec=".3f", none="-", missing="missing") -> str:
    """Median (min-max) of the values that are not None, and how many are None.

    Example:
        >>> format_cell([0.5, None, 0.7], ".2f")
        '0.60 (0.50-0.70), 1 missing'
    """
    vals = [v for v in values if v is not None]
    if not vals:
        return none
    med = statistics.median(vals)
    miss = len(values) - len(vals)
    mid = f"{med:g}" if spec == "d" else f"{med:{spec}}"  # an even count's median may be x.5
    sep = " to " if min(vals) < 0 or spec[0] == "+" else "-"  # "-0.02 to +0.01", not "-0.02-+0.01"
    text = f"{mid} ({min(vals):{spec}}{sep}{max(vals):{spec}})"
    return text + (f", {miss} {missing}" if miss else "")


def stats(values) -> dict:
    """Median, min, max, count and missing (None) count of ``values``, and the values."""
    vals = [v for v in values if v is not None]
    return {"median": statistics.median(vals) if vals else None,
            "min": min(vals) if vals else None, "max": max(vals) if vals else None,
            "n": len(vals), "missing": len(values) - len(vals), "values": list(values)}


def mean(values: list[float]) -> float | None:
    """The mean, or None for no values."""
    return statistics.fmean(values) if values else None


def target_method(runs: dict[str, list[dict]], mode: str = "max") -> tuple[str, str]:
    """Which method's median final result is the target, and why: c (random search, every trial
    to full length) when it ran; else the best available baseline (b or d, by median final);
    else, with no baseline at all, the best method that ran.

    Raises:
        SystemExit: no method has runs with a full-length trial.
    """
    runs = {m: rs for m, rs in runs.items() if any(r["final"] is not None for r in rs)}
    if not runs:
        raise SystemExit("no runs to analyse: run the methods first, or check --out")
    if "c" in runs:
        return "c", "c"
    median = {m: statistics.median(r["final"] for r in rs if r["final"] is not None)
              for m, rs in runs.items()}
    baselines = [m for m in runs if m in ("b", "d")] or list(runs)
    best = better(mode)(baselines, key=median.get)
    kind = "the best available baseline" if best in ("b", "d") else "no baseline ran; the best"
    return best, f"{best} ({kind}: c was not run)"


def retrain_dir(run_dir: Path, params: dict, seed: int) -> Path:
    """Where the retrain of ``params`` on ``seed`` lives in a run's directory: named by a digest
    of the parameters, so a choice two rules share (a's winner and search-phase best) trains
    once, and a changed choice never reads another's result."""
    digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    return run_dir / f"retrain-{digest[:10]}-s{seed}"


def score_run(m: str, r: dict, test_final: float | None, test_sb: float | None, budget: float,
              target: float, mode: str, notes: list[str]) -> dict:
    """One run's row of results.json from its timeline ``r`` (``timeline`` with ``seed``,
    ``choices`` and ``confirmation`` added) and its choices' retrained test metrics (means; None:
    not retrained): a's confirmation gain and share, when the final choice was made, and the
    timeline's facts. Appends what is missing to ``notes``."""
    final, sb = r["choices"].get("final"), r["choices"].get("search_best")
    test_sb = test_sb if m == "a" else None
    if final is None:
        notes.append(f"{m} seed {r['seed']}: no final choice by the budget")
    elif test_final is None:
        notes.append(f"{m} seed {r['seed']}: final choice not retrained")
    c = r.get("confirmation") or {}
    share, final_at = None, budget  # the peers' choices are taken at the cut
    if m == "a" and c.get("top_k"):
        final_at = r["last_report"]  # the search's end, unless confirmation ran
        if not c.get("ran") or c.get("winner") is None:
            notes.append(f"a seed {r['seed']}: no confirmation run finished inside the budget; "
                         "the final choice is the search-phase best (raise --confirm-share)")
    if m == "a" and c.get("ran") and c.get("search_end") is not None:
        final_at = c["end"] - r["origin"]
        share = (c["end"] - c["search_end"]) / final_at if final_at > 0 else None
    return {"method": m, "seed": r["seed"], "test_final": test_final, "test_search_best": test_sb,
            "confirmation_gain": None if test_final is None or test_sb is None else
            test_final - test_sb, "confirmation_share": share, "final_at": final_at,
            "best_val": r["final"], "time_to_target": reach(r["curve"], target, mode),
            "startup": r["startup"], "configs": r["configs"], "full_length": r["full"],
            "epochs": r["epochs"], "gpu_util": r["util"], "covered_s": r["covered"],
            "final_choice": final, "search_best": sb if m == "a" else None,
            "confirmation": c or None}


def method_stats(rows: dict[str, list[dict]]) -> dict:
    """results.json's ``methods``: per method its name, seeds and ``stats`` of every column
    (a's own columns for a only)."""
    keys = [k for k, _ in COLUMNS] + ["confirmation_gain"]
    return {m: {"name": METHODS[m], "seeds": [r["seed"] for r in rs],
                **{k: stats([r[k] for r in rs]) for k in keys if m == "a" or k not in A_ONLY}}
            for m, rs in rows.items()}


def table_lines(rows: dict[str, list[dict]], *, heading: str, metric: str, test_metric: str,
                confirm: str, notes: list[str]) -> list[str]:
    """table.md: ``heading``, one row per method (each cell the median and range over its
    seeds), a's confirmation gain when it was measured, and the notes."""
    lines = [heading + " Each cell: median (range) over the seeds run, "
             + "; ".join(f"{m}: {len(rs)} seed{'' if len(rs) == 1 else 's'}"
                         for m, rs in rows.items()) + ".", "",
             f"| method | held-out {test_metric}, final choice | a: search-phase best, retrained "
             "| a: confirmation, % of wall time | final choice at (s) | best "
             f"{metric} at budget (full-length) | time to target (s) | start-up (s) | configs "
             "evaluated | full-length trials | epochs trained | GPU util % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, rs in rows.items():
        cells = []
        for key, spec in COLUMNS:
            values = [r[key] for r in rs] if m == "a" or key not in A_ONLY else []
            if spec == "%":
                cells.append(format_cell([None if v is None else 100 * v for v in values],
                                         ".0f"))
            else:
                cells.append(format_cell(values, spec, missing="never"
                                         if key == "time_to_target" else "missing"))
        lines.append(f"| {m}: {METHODS[m]} | " + " | ".join(cells) + " |")
    gains = [r["confirmation_gain"] for r in rows.get("a", [])]
    if any(g is not None for g in gains):
        shares = [100 * r["confirmation_share"] for r in rows["a"]
                  if r["confirmation_share"] is not None]
        lines += ["", f"Confirmation gain (a: confirmed winner minus search-phase best, "
                      f"{test_metric}, same retrain seeds): {format_cell(gains, '+.4f')}; its "
                      f"cost: {format_cell(shares, '.0f')}% of a's wall time (--confirm "
                      f"{confirm})."]
    if notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in notes]
    return lines
