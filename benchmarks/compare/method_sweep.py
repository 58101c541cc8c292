"""Method a: ``python -m tuning.sweep`` with the shipped defaults (TPE, ASHA, truthful pruned
trials, 8 trials per GPU with MPS) and the confirmation stage (``--confirm K,S``) inside the
budget: its final choice is the confirmed winner (``best_config.yaml``).

A space sized to its data (``size_to_data: true``) is written sized (``tasks.task_setup``) and
keeps ``size_to_data``: the sweep sizes it again at its pre-flight from the same base config,
overrides and data, and must reach the values the peers got (``sizing_differences``, checked on
the sweep's frozen spec after it ran). ``--smoke`` runs the sweep without sizing, as the peers."""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from pathlib import Path

import yaml

from benchmarks.compare.summary import write_summary
from benchmarks.compare.tasks import ROOT, Setup, better, setup_of
from core.files import atomic_write_text

__all__ = ["A_TRIALS_PER_GPU", "CONFIRM_NEEDS_S", "confirm_share", "run_sweep",
           "sizing_differences", "sweep_choices", "sweep_space"]

A_TRIALS_PER_GPU = 8  # a's packing on every task: search_spaces/gru.yaml's shipped value
SPEC_SOURCE = "sweep/sweep.yaml"  # the sweep's frozen spec, as errors name it
CONFIRM_NEEDS_S = 25.0  # one GPU: Ray's restart, worker start and one packed wave of K x S runs


def run_sweep(seed: int, args, out: Path) -> None:
    """Runs a into ``out``: the sweep (``out/sweep``) on the task's full space, then its
    summary from the sweep's files."""
    st = setup_of(args)
    raw = sweep_space(st, seed, args)
    path = out / "space.yaml"
    atomic_write_text(path, yaml.safe_dump(raw, sort_keys=False))
    # The sweep's clock starts before Ray does, so its time budget (search and confirmation
    # together) gets the slack too: its final choice then lands near the budget after its first
    # step (the table's "final choice at"); the analysis cuts the search curve at the budget.
    cmd = [sys.executable, "-m", "tuning.sweep", "--space", str(path), "--storage-path",
           str(out), "--name", "sweep", "--time-budget", str(args.budget + args.slack),
           "--metric", st.task.metric]
    for o in st.overrides:
        cmd += ["--set", o]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    atomic_write_text(out / "sweep-driver.log", proc.stdout[-200_000:] + proc.stderr[-200_000:])
    if proc.returncode != 0:
        raise SystemExit(f"sweep exited {proc.returncode}: {proc.stderr[-3000:]}")
    from tuning.record import histories, read_spec, started_config

    exp = out / "sweep"
    differs = sizing_differences(read_spec(exp), st)
    if differs:  # a searched another space than the peers: no comparison
        raise SystemExit("the sweep sized the space unlike the peers' task_setup: "
                         + "; ".join(differs))
    trials = []
    for key, history in histories(exp).items():
        rows = [r for r in history if "reported_at" in r]
        config = started_config(exp, key)
        if not rows or config is None:
            continue
        trials.append({"first_step": config["suggested_at"] + rows[0]["launch_to_first_step_s"],
                       "reports": [r["reported_at"] for r in rows],
                       "scores": [r[st.task.metric] for r in rows],
                       "params": config["params"]})
    write_summary(out, trials, st, sweep_choices(exp, st, trials, args.confirm[0]))


def sweep_space(st: Setup, seed: int, args) -> dict:
    """The space file a's sweep runs (its file form): the task's space (sized, as the peers get
    it) without its ``cpu:`` section, ``args.trials`` trials (else unbounded: the time budget
    ends it), the sampler's ``seed``, ``A_TRIALS_PER_GPU``, the confirmation of ``args.confirm``
    and, with ``args.smoke``, 4 epochs, rungs 1 and 2 and no sizing."""
    raw = copy.deepcopy(st.space.raw)
    # Every method runs the full space: no cpu: section (it would shrink a's space on a CPU).
    raw.pop("cpu", None)
    raw["base_config"] = str(st.space.base_config)
    raw["num_samples"] = args.trials or 100000
    raw["sampler"] = {**(raw.get("sampler") or {}), "seed": seed}
    raw["resources"] = {**(raw.get("resources") or {}), "trials_per_gpu": A_TRIALS_PER_GPU}
    if args.smoke:
        raw.update(max_epochs=4, scheduler={"grace_period": 1, "reduction_factor": 2})
        raw.pop("size_to_data", None)  # the sweep runs without --smoke: it would size the data
        raw["resources"] = {**raw["resources"], "trials_per_gpu": 1}
    top_k, seeds = args.confirm
    if top_k:
        raw["confirm"] = {"top_k": top_k, "seeds": seeds,
                          "budget_share": confirm_share(args.budget + args.slack,
                                                        args.confirm_share)}
    else:
        raw.pop("confirm", None)
    return raw


def sizing_differences(spec: dict, st: Setup) -> list[str]:
    """What a sweep's frozen spec (``sweep.yaml``, as ``tuning.record.read_spec`` reads it)
    sized otherwise than ``st``: ``data.cv_folds``, ``max_epochs``, ASHA's grace period and the
    batch size choices, one line each; empty when they agree.

    Raises:
        ConfigError: the spec's space is invalid.
    """
    from tuning.record import space_of

    space = space_of(spec, SPEC_SOURCE)
    pairs = [("data.cv_folds", spec["base"]["data"]["cv_folds"], st.cfg.data.cv_folds),
             ("max_epochs", space.max_epochs, st.max_epochs),
             ("scheduler.grace_period", space.grace_period, st.grace)]
    mine = {p.name: p for p in space.params}.get("training.batch_size")
    theirs = {p.name: p for p in st.space.params}.get("training.batch_size")
    # A --set training.batch_size pins a's parameter (fixed): no choices to compare.
    if mine is not None and theirs is not None and mine.type == theirs.type == "categorical":
        pairs.append(("training.batch_size choices", list(mine.choices), list(theirs.choices)))
    return [f"{key}: sweep {a!r}, peers {b!r}" for key, a, b in pairs if a != b]


def confirm_share(time_budget: float, given: float | None) -> float:
    """The share of a's ``--time-budget`` kept for confirmation: ``given``, or by default
    ``CONFIRM_NEEDS_S`` of it, at least the shipped 0.2 and at most half.

    The sweep gives confirmation what is left of its budget after the search's Tune run, Ray's
    start and its shutdown; the confirmation then starts Ray again and trains every run to full
    length, so a short budget needs a larger share for any run to finish.

    Example:
        >>> [confirm_share(t, None) for t in (40, 100, 300)], confirm_share(100, 0.3)
        ([0.5, 0.25, 0.2], 0.3)
    """
    if given is not None:
        return given
    return min(0.5, max(0.2, CONFIRM_NEEDS_S / time_budget))


def sweep_choices(exp: Path, st: Setup, trials: list[dict], top_k: int) -> dict:
    """a's final choice (the confirmed winner), its search-phase best (what ``tuning.export``
    picks without confirmation: the best epoch over COMPLETE and PRUNED trials) and the
    confirmation's candidates and timings, from the sweep's files."""
    from tuning.confirm import read_confirmation
    from tuning.record import best_trial, trial_history, trial_key
    from tuning.study import load_study

    own = [t for t in load_study(exp).get_trials(deepcopy=False)
           if "warm_start_from" not in t.user_attrs]
    best = best_trial(own, st.mode)
    search_best = None if best is None else {
        "trial": trial_key(best.number), "params": best.user_attrs.get("params") or
        dict(best.params), "score": better(st.mode)(best.intermediate_values.values())}
    summary = read_confirmation(exp) if top_k else None
    confirm = {"top_k": top_k, "ran": summary is not None}
    final = None
    if summary is not None:
        cands = summary["candidates"]
        confirm.update(winner=summary["winner"], seeds=summary["seeds"], candidates=[
            {k: c.get(k) for k in ("trial", "search_score", "n", "mean", "sd", "low", "high",
                                   "test_mean")} for c in cands])
        reports = [r for c in cands for run in c["runs"]
                   for r in trial_history(exp, run["trial"]) if "reported_at" in r]
        search_end = max((t["reports"][-1] for t in trials), default=None)
        end = max((r["reported_at"] for r in reports), default=time.time())
        confirm.update(epochs=len(reports), search_end=search_end, end=end)
        if summary["winner"] is not None:
            w = cands[summary["winner"]]
            final = {"source": "confirmed winner", "trial": w["trial"], "params": w["params"],
                     "confirmed_mean": w["mean"]}
    if final is None and search_best is not None:
        why = "confirmation off" if not top_k else \
            "no confirmation run finished" if summary is not None else "confirmation skipped"
        final = {**search_best, "source": f"search-phase best ({why})"}
    return {"final_choice": final, "search_best": search_best, "confirmation": confirm}
