"""The trial-start table of the sweep's GPU benchmark (``benchmarks/sweep_gpu.py``): where a
trial's start goes, from the searcher's suggestion to its first training batch, read from the
timings each trial reports with its first epoch (``suggested_at``, ``worker_started_at``,
``worker_imported_at``, ``entered_at``, ``fit_entered_at``, ``setup_s``,
``launch_to_first_step_s``, ``worker_trials``: ``tuning.execution._trainable``).

A worker's first trial (a new process, or an idle one Ray started before the suggestion) and
the later trials that reuse it are told apart: a later trial's start is mostly Tune's.
"""

from __future__ import annotations

import statistics

__all__ = ["START_HEADER", "start_row"]


def start_row(label: str, trials: list[list[dict]]) -> str:
    """Trial start in one sweep: launch (the searcher's suggestion) to the first training batch,
    for a worker's first trial and for later ones, and where a first trial's start went."""
    firsts = [rows[0] for rows in trials if rows[0].get("suggested_at") is not None]
    new = [r for r in firsts if r.get("worker_trials") == 1]
    reused = [r for r in firsts if r not in new]
    idle = [r for r in new if r.get("worker_started_at") and
            r["worker_started_at"] < r["suggested_at"]]  # started (and preloaded) before

    def med(values) -> str:
        values = list(values)
        return f"{statistics.median(values):.2f}" if values else "-"

    def top(values) -> str:
        values = list(values)
        return f"{max(values):.2f}" if values else "-"

    def part(a: str, b: str, rows=new) -> str:
        return med(r[b] - r[a] for r in rows)

    spent = [r["launch_to_first_step_s"] for r in reused]
    first = [r["launch_to_first_step_s"] for r in new]
    return (f"| {label} | {len(firsts)} | {med(spent)} | {top(spent)} | "
            f"{part('suggested_at', 'entered_at', reused)} | {len(new)} ({len(idle)}) | "
            f"{med(first)} | {top(first)} | {part('suggested_at', 'worker_imported_at')} | "
            f"{part('suggested_at', 'entered_at')} | "
            f"{part('entered_at', 'fit_entered_at')} | {med(r['setup_s'] for r in new)} |")


START_HEADER = ["### Trial start: the searcher's suggestion to the first training batch (s)", "",
                "Medians unless marked max. A worker's first trial splits into: the suggestion "
                "to the trainable's entry (a new process, unless Ray had one idle with torch and "
                "Ray imported, the count in brackets; data), config and checkpoint (to `fit`), "
                "and `fit`'s setup (model, data on the GPU, CUDA context, graph capture). Worker "
                "imported: the suggestion to the moment the worker had torch, Ray and this "
                "project imported (negative: before the suggestion). A later trial's start is "
                "mostly Tune's: the suggestion to the trainable's entry "
                "(trial creation, actor reset).", "",
                "| sweep | trials | later trial | later, max | later, to entry | first trials "
                "(idle worker) | first trial | first, max | worker imported | first, to entry | "
                "config | setup |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
