"""The report's figures (matplotlib; ``tuning.report`` embeds them in report.html).

The search's (``search_figures``): best-so-far metric against wall time and against trials;
every trial's learning curve coloured by status, with ASHA's rungs marked; the metric against
each parameter; parameter importances (Optuna's PED-ANOVA evaluator); parallel coordinates. The
confirmation's (``confirmation_figure``): each candidate's search score against its confirmed
mean with the 95% interval. Each is drawn from ``tuning.report.collect``'s data, read from disk.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from tuning.record import finite

__all__ = ["COLOURS", "confirmation_figure", "score_key", "search_figures"]

COLOURS = {"completed": "#1f77b4", "pruned": "#ff7f0e", "errored": "#d62728",
           "running": "#2ca02c", "waiting": "#7f7f7f"}


def score_key(space):
    """The sort key of a trial's row (``tuning.record.trial_rows``): its best value of the
    sweep's metric, signed so that higher is better; a row without a finite value sorts
    lowest. The report's table (best first) and the parallel coordinates (best drawn last)
    rank trials by it."""
    sign = 1 if space.mode == "max" else -1
    return lambda r: sign * r[f"best_{space.metric}"] if finite(r[f"best_{space.metric}"]) \
        else -math.inf


def _fig_best_so_far(plt, data):
    space, curves = data["space"], data["curves"]
    better = max if space.mode == "max" else min
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    points = sorted((t, v) for c in curves.values() for _, v, t in c if finite(v) and t)
    if points:
        t0 = points[0][0]
        xs, ys, best = [], [], None
        for t, v in points:
            best = v if best is None else better(best, v)
            xs.append((t - t0) / 60)
            ys.append(best)
        a.step(xs, ys, where="post")
    a.set(xlabel="wall time (min)", ylabel=f"best {space.metric}", title="best so far vs time")
    xs, ys, best = [], [], None
    for r in sorted(data["rows"], key=lambda r: r["number"]):
        v = r[f"best_{space.metric}"]
        if finite(v):
            best = v if best is None else better(best, v)
        if best is not None:
            xs.append(r["number"])
            ys.append(best)
    b.step(xs, ys, where="post", color="#2ca02c")
    b.set(xlabel="trial", ylabel=f"best {space.metric}", title="best so far vs trials")
    fig.tight_layout()
    return fig


def _fig_curves(plt, data):
    space = data["space"]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    status = {r["trial"]: r["status"] for r in data["rows"]}
    for key, c in data["curves"].items():
        pts = [(e, v) for e, v, _ in c if finite(v)]
        if pts:
            ax.plot(*zip(*pts, strict=True), color=COLOURS.get(status[key], "#333"), alpha=0.7,
                    lw=1.2, marker="." if len(pts) == 1 else None)
    for rung in space.rungs:
        if rung < space.max_epochs:  # the last epoch needs no line
            ax.axvline(rung, color="#999", ls="--", lw=0.8)
    for name, colour in COLOURS.items():
        if name in status.values():
            ax.plot([], [], color=colour, label=name)
    ax.legend(loc="lower right")
    ax.set(xlabel="epoch", ylabel=space.metric,
           title="learning curves (dashed: ASHA rungs)")
    fig.tight_layout()
    return fig


def _param_values(data):
    space = data["space"]
    out = []
    for p in space.params:
        if p.type == "fixed":
            continue
        pts = [(r.get(f"param:{p.name}"), r[f"best_{space.metric}"]) for r in data["rows"]]
        out.append((p, [(x, y) for x, y in pts if x not in (None, "") and finite(y)]))
    return out


def _fig_params(plt, data):
    params = _param_values(data)
    n = max(len(params), 1)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (p, pts) in zip(axes.flat, params, strict=False):
        if p.type == "categorical":
            labels = [str(c) for c in p.choices]
            ax.scatter([labels.index(str(x)) for x, _ in pts], [y for _, y in pts], s=14)
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
        else:
            ax.scatter([x for x, _ in pts], [y for _, y in pts], s=14)
            if p.log:
                ax.set_xscale("log")
        ax.set_title(p.name, fontsize=9)
    fig.suptitle(f"best {data['space'].metric} of each trial against each parameter", fontsize=10)
    fig.tight_layout()
    return fig


def _importances(data) -> dict[str, float] | str:
    import optuna

    try:
        with warnings.catch_warnings():
            # PED-ANOVA warns of parameter regimes with few trials: normal in a small sweep,
            # and not the user's to act on in a report.
            warnings.simplefilter("ignore", UserWarning)
            return optuna.importance.get_param_importances(data["study"])
    except (ValueError, RuntimeError) as exc:
        return f"not available yet: {exc}"


def _fig_importance(plt, imp):
    fig, ax = plt.subplots(figsize=(6, 0.4 * max(len(imp), 1) + 1))
    names = list(imp)[::-1]
    ax.barh(names, [imp[k] for k in names])
    ax.set(xlabel="importance (PED-ANOVA, normalised)", title="parameter importances")
    fig.tight_layout()
    return fig


def _fig_parallel(plt, data):
    space = data["space"]
    params = [p for p in space.params if p.type != "fixed"]
    fig, ax = plt.subplots(figsize=(11, 4))
    scored = [r for r in data["rows"] if finite(r[f"best_{space.metric}"])]
    if scored and params:
        vals = [r[f"best_{space.metric}"] for r in scored]
        lo, hi = min(vals), max(vals)
        cmap = plt.get_cmap("viridis")
        for r in sorted(scored, key=score_key(space)):
            xs, ys = [], []
            for i, p in enumerate(params):
                x = r.get(f"param:{p.name}")
                if x in (None, ""):
                    continue
                if p.type == "categorical":
                    pos = [str(c) for c in p.choices].index(str(x)) / max(len(p.choices) - 1, 1)
                elif p.log:
                    pos = (math.log(x) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
                else:
                    pos = (x - p.low) / ((p.high - p.low) or 1)
                xs.append(i)
                ys.append(pos)
            shade = (r[f"best_{space.metric}"] - lo) / ((hi - lo) or 1)
            ax.plot(xs, ys, color=cmap(shade), alpha=0.8, lw=1.3)
        ax.set_xticks(range(len(params)), [p.name for p in params], rotation=15, fontsize=8)
        ax.set_yticks([0, 1], ["low", "high"])
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(lo, hi))
        fig.colorbar(sm, ax=ax, label=f"best {space.metric}")
    ax.set_title("parallel coordinates (each line a trial; axes scaled to the search range)")
    fig.tight_layout()
    return fig


def confirmation_figure(plt, conf):
    """The confirmation's figure (``tuning.confirm.read_confirmation``'s summary): one point per
    candidate, its search score (x) against its confirmed mean (y) with the 95% interval; the
    diagonal is where confirmation would agree with the search."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    pts = [c for c in conf["candidates"] if c["mean"] is not None]
    for i, c in enumerate(conf["candidates"]):
        if c["mean"] is None:
            continue
        lo = c["mean"] - c["low"] if c["low"] is not None else 0.0
        hi = c["high"] - c["mean"] if c["high"] is not None else 0.0
        win = i == conf["winner"]
        ax.errorbar([c["search_score"]], [c["mean"]], yerr=[[lo], [hi]], fmt="o", capsize=4,
                    color="#d62728" if win else "#1f77b4")
        ax.annotate(c["trial"] + (" (winner)" if win else ""), (c["search_score"], c["mean"]),
                    textcoords="offset points", xytext=(5, 5), fontsize=8)
    if pts:
        vals = [c["search_score"] for c in pts] + [c["mean"] for c in pts]
        ax.plot([min(vals), max(vals)], [min(vals), max(vals)], "--", color="#999", lw=1)
    ax.set_xlabel(f"search score ({conf['metric']}, best epoch)")
    ax.set_ylabel(f"confirmed mean ({conf['metric']}, last epoch), 95% interval")
    fig.tight_layout()
    return fig


def search_figures(plt, data) -> tuple[list[tuple[str, str, Any]], str | None]:
    """The search's figures, in the report's order, as (file stem, title, figure), and why the
    parameter importances are missing (None when they are among the figures). ``plt``:
    ``matplotlib.pyplot``; ``data``: ``tuning.report.collect``'s."""
    figures = [("best_so_far", "Best so far", _fig_best_so_far(plt, data)),
               ("learning_curves", "Learning curves", _fig_curves(plt, data)),
               ("parameters", "Metric against each parameter", _fig_params(plt, data)),
               ("parallel", "Parallel coordinates", _fig_parallel(plt, data))]
    imp = _importances(data)
    if isinstance(imp, dict) and imp:
        figures.insert(3, ("importance", "Parameter importances", _fig_importance(plt, imp)))
    return figures, imp if isinstance(imp, str) else None
