"""Export a sweep's best (or a chosen) trial as a complete standalone config.

    python -m tuning.export runs/sweeps/gru-big --out configs/best_gru.yaml
    python -m tuning.export runs/sweeps/gru-big --trial t0007 --out configs/t.yaml

The best trial is chosen by the sweep's metric and mode over every epoch it reported, among trials
that did not fail (errored and non-finite trials are FAIL in the study and never chosen); its
best epoch is trials.csv's (a tie on the metric goes to the lower val_loss, as for best.pt).
The file is the sweep's base config plus the trial's parameters, with ``training.epochs`` set to
the sweep's full trial length, so ``python -m core.train --config FILE`` retrains that trial.

When the sweep confirmed its best configurations (``tuning.confirm``), the default is the
confirmed winner instead: the file trains its first completed confirmation run (its seed
included, so the retrain repeats that run's curve), and its header gives the confirmed mean and
95% interval, and the search-phase best when that was another configuration. ``--trial c0003``
exports a confirmation run.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path

import yaml

from core.cli import EXIT_OK, fail, python_command
from core.config import ConfigError, config_from_dict, config_to_dict
from core.files import atomic_write_text
from tuning.confirm import confirm_key, confirmed_winner, read_confirmation
from tuning.final import best_epoch_threshold, refit_config
from tuning.record import (
    SPEC_FILE,
    best_trial,
    is_sweep_dir,
    read_spec,
    running_pid,
    space_of,
    trial_history,
    trial_key,
    trial_rows,
)
from tuning.space import SearchSpace, trial_config
from tuning.study import load_confirm_study, load_study

__all__ = ["export_best", "main"]


def export_best(exp_dir: Path, out: Path, trial: str | None = None,
                allow_partial: bool = False, refit: bool | None = None,
                space: SearchSpace | None = None) -> dict:
    """Writes the config of ``trial`` (default: the best) to ``out``; returns what was chosen.

    ``refit`` (default: on after a cross-validated sweep, off after a holdout one) writes the
    final model's config instead of the trial's: every non-test sequence, no validation split,
    the trial's best epoch scaled to keep its optimizer steps, and (binary) the trial's decision
    threshold at that epoch as ``task.threshold`` (``tuning.final``). ``space``: the sweep's space
    as its driver holds it (None: parsed from its sweep.yaml).

    Raises:
        ValueError: no eligible trial, an unknown trial, or an unfinished sweep without
            ``allow_partial``.
    """
    exp_dir = exp_dir.resolve()
    holder = running_pid(exp_dir)
    if holder is not None and not allow_partial:
        raise ValueError(f"{exp_dir}: the sweep is still running (driver pid {holder}); pass "
                         "--allow-partial to export from what is on disk now")
    spec = read_spec(exp_dir)
    if space is None:
        space = space_of(spec, str(exp_dir / SPEC_FILE))
    study = load_study(exp_dir)
    own = [t for t in study.get_trials(deepcopy=False) if "warm_start_from" not in t.user_attrs]
    done = [t for t in own if t.state.is_finished()]
    if not allow_partial and (len(done) < space.num_samples or len(done) < len(own)):
        raise ValueError(f"{exp_dir}: sweep is unfinished ({len(done)} of {space.num_samples} "
                         "trials finished); pass --allow-partial to export anyway")
    confirmed, key_of, phase = None, trial_key, "search"
    summary = read_confirmation(exp_dir) if trial is None else None
    winner = confirmed_winner(summary)
    if winner is not None:
        confirmed, trial = winner
    if trial is not None and trial.startswith("c"):
        confirm = load_confirm_study(exp_dir)
        own = confirm.get_trials(deepcopy=False) if confirm is not None else []
        study, key_of, phase = confirm, confirm_key, "confirm"
    if trial is not None:
        chosen = [t for t in own if key_of(t.number) == trial]
        if not chosen:
            raise ValueError(f"{exp_dir}: no trial {trial!r}")
        best = chosen[0]
    else:
        best = best_trial(own, space.mode)
        if best is None:
            raise ValueError(f"{exp_dir}: no finished trial with a finite {space.metric}")
    values = best.intermediate_values
    row = next(r for r in trial_rows(study, exp_dir, space, phase=phase, key_of=key_of)
               if r["number"] == best.number)
    # trials.csv's best epoch (tuning.record.trial_best_epoch): the rule of best.pt; a
    # confirmation run is scored at its last epoch, and its file trains that model.
    epoch = (max(values) if values else 0) if phase == "confirm" else row["best_epoch"] or 0
    params = best.user_attrs.get("params") or dict(best.params)
    name = key_of(best.number)
    cfg = trial_config(spec["base"], params, space.max_epochs, f"trial {name}",
                       space.cpus_per_trial)
    raw = config_to_dict(cfg)
    if refit is None:
        refit = cfg.data.cv_folds >= 2
    refit_note = ""
    if refit:
        # binary: the refit carries the trial's decision threshold (it has no validation)
        raw, note = refit_config(raw, max(1, epoch),
                                 best_epoch_threshold(trial_history(exp_dir, name), epoch))
        config_from_dict(raw, str(out))  # the refit is a valid config (raises ConfigError)
        refit_note = f"# {note}\n"
    elif cfg.data.cv_folds >= 2:
        refit_note = "# not refitted (--no-refit): trains the trial's K fold models as it did\n"
    header = (f"# Exported from sweep {exp_dir.name} ({exp_dir})\n"
              + _confirmed_lines(summary, confirmed, name, space.metric) +
              f"# trial {name}: {space.metric} = "
              f"{values[epoch] if values else float('nan'):.6g} at epoch {epoch} of "
              f"{space.max_epochs} (status {best.state.name.lower()})\n"
              + refit_note +
              f"# exported {datetime.now().isoformat(timespec='seconds')} by seqtune "
              f"{_version()}\n"
              f"# train it: {python_command()} -m core.train --config {out}\n")
    atomic_write_text(out, header + yaml.safe_dump(raw, sort_keys=False))
    return {"trial": name, "value": values.get(epoch, float("nan")),
            "epoch": epoch, "checkpoint": row["checkpoint"],
            "checkpoint_epoch": row["checkpoint_epoch"], "params": params,
            "confirmed": confirmed, "refit": refit, "config": raw}


def _version() -> str:
    try:
        return metadata.version("seqtune")
    except metadata.PackageNotFoundError:
        return "unknown"


def _confirmed_lines(summary: dict | None, confirmed: dict | None, run: str, metric: str) -> str:
    """The header lines that say a file holds the confirmed winner (empty when it does not)."""
    if confirmed is None or summary is None:
        return ""

    def num(v) -> str:
        return "n/a" if v is None else f"{v:.6g}"

    top = summary["candidates"][0]
    lines = (f"# confirmed winner: the configuration of search trial {confirmed['trial']}, "
             f"{metric} (last epoch) mean {num(confirmed['mean'])}, sd {num(confirmed['sd'])}, "
             f"95% interval [{num(confirmed['low'])}, {num(confirmed['high'])}] over "
             f"{confirmed['n']} fresh seed(s); {summary['test_metric']} mean "
             f"{num(confirmed['test_mean'])} over {confirmed.get('test_n', confirmed['n'])} "
             "run(s)\n"
             f"# this file trains its confirmation run {run} (its seed included)\n")
    if top["trial"] != confirmed["trial"]:
        lines += (f"# search-phase best was {top['trial']} ({metric} {num(top['search_score'])});"
                  f" confirmed mean {num(top['mean'])}\n")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m tuning.export``; returns the exit code (0, or 2 with one error line)."""
    p = argparse.ArgumentParser(prog="python -m tuning.export", description=__doc__.split("\n")[0])
    p.add_argument("sweep", type=Path, help="experiment directory of the sweep")
    p.add_argument("--out", type=Path, required=True, help="YAML file to write")
    p.add_argument("--trial", help="export this trial (e.g. t0007, or a confirmation run "
                                   "c0003) instead of the best (the confirmed winner when the "
                                   "sweep confirmed)")
    p.add_argument("--allow-partial", action="store_true", help="export from an unfinished sweep")
    p.add_argument("--refit", action=argparse.BooleanOptionalAction, default=None,
                   help="write the final model's config: every non-test sequence, no validation "
                        "split, the best epoch scaled to keep its optimizer steps (default: on "
                        "after a cross-validated sweep, off after a holdout one; "
                        "docs/small-data.md)")
    p.add_argument("--ensemble", type=int, metavar="N",
                   help="write an ensemble of at most N members instead (greedy selection over "
                        "the best trials' out-of-fold outputs; a cross-validated sweep's); the "
                        "space's ensemble: key writes one beside --out as <name>-ensemble.yaml")
    args = p.parse_args(argv)
    if not is_sweep_dir(args.sweep):
        return fail(f"{args.sweep}: not a sweep directory (no {SPEC_FILE})")
    if args.ensemble is not None:
        if args.trial is not None:
            return fail("--ensemble chooses its members; it takes no --trial")
        return _ensemble(args.sweep, args.out, args.ensemble)
    try:
        chosen = export_best(args.sweep, args.out, args.trial, args.allow_partial, args.refit)
    except (ValueError, ConfigError) as exc:
        return fail(str(exc))
    except OSError as exc:  # a read-only or full disk, a file in the way: nothing written
        return fail(f"--out: cannot write {args.out}: {exc.strerror}")
    threshold = (chosen["config"].get("task") or {}).get("threshold")
    refit = f", refit for {chosen['config']['training']['epochs']} epochs" \
        + ("" if threshold is None else f" at binary decision threshold {threshold:.4g}") \
        if chosen["refit"] else ""
    print(f"{chosen['trial']}: {chosen['value']:.6g} at epoch {chosen['epoch']}{refit} -> "
          f"{args.out}")
    spec = read_spec(args.sweep.resolve())
    size = space_of(spec, str(args.sweep / SPEC_FILE)).settings.ensemble
    if size and args.trial is None and int(spec["base"]["data"].get("cv_folds") or 0) >= 2:
        return _ensemble(args.sweep, args.out.with_name(f"{args.out.stem}-ensemble.yaml"), size)
    return EXIT_OK


def _ensemble(sweep: Path, out: Path, size: int) -> int:
    from tuning.final import export_ensemble

    try:
        chosen = export_ensemble(sweep, out, size)
    except (ValueError, ConfigError) as exc:
        return fail(str(exc))
    members = ", ".join(f"{t} {w:.2f}" for t, w in chosen["members"])
    threshold = "" if chosen["threshold"] is None else \
        f"; binary decision threshold {chosen['threshold']:.4g}"
    print(f"ensemble: {members}; out-of-fold {chosen['score']:.6g} (best single "
          f"{chosen['best_single']:.6g}){threshold} -> {out}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
