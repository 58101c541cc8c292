"""The sweep: ``python -m tuning.sweep --space search_spaces/gru.yaml``.

Ray Tune runs the trials (ASHA stops the weak ones early), an Optuna study chooses their
hyperparameters (TPE by default) and is the sweep's ledger. Everything lands in an experiment
directory, ``runs/sweeps/<name>/`` (its files: ``tuning.experiment``).

Resume (``--resume DIR``) reconciles the study with the disk rather than trusting a snapshot: a
trial whose final epoch is on disk is closed as COMPLETE without running again, an unfinished one
continues from its latest checkpoint under its original trial number, and only the missing
trials are newly sampled, so the sweep ends with exactly ``num_samples`` trials
(``tuning.resume``).

Exit codes: 0 finished, 2 bad input (nothing written), 130 interrupted (resume it).

``drive`` is the driver itself (bad input raises); ``main`` is the command line over it, and
``tuning.run_sweep`` the Python API.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TRAINING,
    fail,
    int_at_least,
    port,
    positive_seconds,
    setup_logging,
)
from core.config import ConfigError, config_from_dict, config_to_dict, load_config
from core.data import DataError, DataSplits, load_data
from core.files import check_name
from core.tasks import metrics_for
from core.train import SMOKE_OVERRIDES
from tuning.confirm import confirm_key, summarize, write_confirmation
from tuning.confirm import plan as confirm_plan
from tuning.experiment import (
    BEST_CONFIG_FILE,
    LOG_FILE,
    SPEC_FILE,
    SweepError,
    hold_lock,
    is_sweep_dir,
    publish_ledger,
    read_spec,
    running_pid,
    space_of,
    write_spec,
)
from tuning.export import export_best
from tuning.failures import most_common_failure
from tuning.preflight import fixed_params, preflight
from tuning.results import write_events, write_trials_csv
from tuning.resume import reconcile, spec_changes
from tuning.space import SearchSpace, load_space, scaled_for_cpu
from tuning.study import count_finished, load_study, open_study, warm_start, warm_start_trials
from tuning.trainable import trial_config
from tuning.trial_store import TrialStore, is_uri, join_uri
from tuning.tuner import RayOptions, run_trials

__all__ = ["SweepOptions", "build_parser", "check_params_fit_config", "drive",
           "main", "new_spec"]

log = logging.getLogger("tuning")

CSV_REFRESH_S = 5.0  # trials.csv during a sweep; it reads every trial's results, so not per trial


def build_parser() -> argparse.ArgumentParser:
    """The sweep's command line (``python -m tuning.sweep --help``)."""
    p = argparse.ArgumentParser(prog="python -m tuning.sweep", description=__doc__.split("\n")[0])
    p.add_argument("--space", type=Path, help="search-space YAML (see search_spaces/)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the sweep in DIR")
    p.add_argument("--name", help="experiment name (default: <space>-<timestamp>)")
    p.add_argument("--storage-path",
                   help="parent of experiment directories (made absolute; default runs/sweeps), "
                        "or a URI such as s3://bucket/sweeps for the trials' results and "
                        "checkpoints (the study and trials.csv then stay in runs/sweeps/<name> "
                        "and are copied there when the sweep stops)")
    p.add_argument("--num-samples", type=int_at_least(1),
                   help="trials in total (overrides the space); with --resume, extends the "
                        "sweep to this many trials")
    p.add_argument("--max-epochs", type=int_at_least(1),
                   help="epochs of a full trial (overrides the space)")
    p.add_argument("--metric", help="metric the sweep optimises, e.g. val_auroc (overrides the "
                   "space's metric; its direction is known, docs/tasks.md)")
    p.add_argument("--trials-per-gpu", type=int_at_least(1),
                   help="trials sharing one GPU (overrides)")
    p.add_argument("--time-budget", type=positive_seconds, metavar="SECONDS",
                   help="stop the sweep after this much Tune time; trials still running are "
                        "recorded as pruned, and the sweep ends normally")
    p.add_argument("--max-failures", type=int_at_least(0),
                   help="retries of an errored trial, from its last checkpoint (default 2); a "
                        "trial whose config is invalid is never retried")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the base config (repeatable)")
    p.add_argument("--address", help="Ray cluster address ('auto' for a running cluster)")
    p.add_argument("--mps", choices=("auto", "on", "off"), default="auto",
                   help="CUDA MPS for trials sharing a GPU (auto: when trials_per_gpu > 1)")
    p.add_argument("--dashboard", action="store_true",
                   help="start Ray's dashboard on 127.0.0.1 (needs the 'dashboard' extra)")
    p.add_argument("--dashboard-port", type=port, default=8265)
    p.add_argument("--warm-start", type=Path, metavar="DIR",
                   help="seed the study with the finished trials of an earlier sweep")
    p.add_argument("--confirm", type=_confirm_arg, metavar="K,S",
                   help="after the search, retrain the K best configurations on S fresh seeds "
                        "each and keep the best mean (overrides the space's confirm; 0: off; "
                        "docs/confirmation.md)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny CPU sweep for tests: 8 trials of 4 epochs on tiny data")
    p.add_argument("--full-size", action="store_true",
                   help="without a GPU, run the space at its full size rather than its cpu: "
                        "section (the default sweep: about an hour on 2 cores, not 5 minutes)")
    return p


def _confirm_arg(text: str) -> tuple[int, int]:
    """``--confirm K,S`` (or ``0``: off) -> (K, S)."""
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if parts == [0]:
        return (0, 0)
    if len(parts) != 2 or parts[0] < 1 or parts[1] < 1:
        raise argparse.ArgumentTypeError(f"expected K,S with K >= 1 and S >= 1, or 0; got {text!r}")
    return parts[0], parts[1]


# Flags a resumed sweep cannot honour: its spec (space, budget, base config) is frozen.
RESUME_REFUSES = {"max_epochs": "--max-epochs", "metric": "--metric", "overrides": "--set",
                  "trials_per_gpu": "--trials-per-gpu", "max_failures": "--max-failures",
                  "smoke": "--smoke", "name": "--name", "warm_start": "--warm-start",
                  "storage_path": "--storage-path", "full_size": "--full-size",
                  "confirm": "--confirm"}


def resume_refusals(args: argparse.Namespace) -> list[str]:
    """The flags given with ``--resume`` that it cannot honour (``RESUME_REFUSES``)."""
    return [flag for attr, flag in RESUME_REFUSES.items()
            if getattr(args, attr) not in (None, False, [])]


@dataclass(frozen=True)
class SweepOptions:
    """The sweep's command-line options, typed (one field per flag of ``build_parser``)."""

    space: Path | None = None  # search-space YAML; required unless resuming
    resume: Path | None = None  # experiment directory to continue
    name: str | None = None  # experiment name; default <space stem>-<timestamp>
    storage_path: str = "runs/sweeps"  # parent of experiment directories, or a URI for trials
    num_samples: int | None = None  # overrides the space's
    max_epochs: int | None = None  # overrides the space's
    metric: str | None = None  # overrides the space's metric; the mode follows the metric
    trials_per_gpu: int | None = None  # overrides the space's resources.trials_per_gpu
    max_failures: int = 2  # retries of an errored trial
    full_size: bool = False  # no GPU: the space's full size, not its cpu: section
    overrides: list[str] = field(default_factory=list)  # KEY=VALUE for the base config
    warm_start: Path | None = None  # earlier sweep whose finished trials seed the study
    smoke: bool = False  # tiny CPU sweep: 8 trials of 4 epochs on tiny data
    confirm: tuple[int, int] | None = None  # (top_k, seeds) overriding the space's; (0, 0): off
    ray: RayOptions = RayOptions()

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SweepOptions:
        """The options of a parsed ``build_parser()`` command line."""
        ray = RayOptions(address=args.address, mps=args.mps, dashboard=args.dashboard,
                         dashboard_port=args.dashboard_port, time_budget=args.time_budget,
                         smoke=args.smoke)
        return cls(space=args.space, resume=args.resume, name=args.name,
                   storage_path=args.storage_path or "runs/sweeps",
                   num_samples=args.num_samples, max_epochs=args.max_epochs,
                   metric=args.metric, trials_per_gpu=args.trials_per_gpu,
                   full_size=args.full_size,
                   max_failures=2 if args.max_failures is None else args.max_failures,
                   overrides=list(args.overrides),
                   warm_start=args.warm_start, smoke=args.smoke, confirm=args.confirm, ray=ray)


def new_spec(opts: SweepOptions) -> dict:
    """The frozen spec of a new sweep: the space file as read with the options' overrides, its
    path, the resolved base config, ``max_failures`` and the creation time.

    Raises:
        ConfigError: the space or the base config is invalid (names the file and key).
    """
    space = load_space(opts.space)
    raw = copy.deepcopy(space.raw)
    scaled: list[str] = []
    cpu_overrides: list[str] = []
    if "cpu" in raw:
        # Without a GPU the space's cpu: section applies (the default sweep: about 5 minutes on
        # 2 cores instead of an hour); a cluster (--address) may have GPUs: full size.
        if not (opts.smoke or opts.full_size or opts.ray.address is not None or _has_gpu()):
            raw, cpu_overrides, scaled = scaled_for_cpu(raw)
        else:
            raw.pop("cpu")
    if opts.smoke:
        # Checkpoints every epoch: the fault tests kill and resume trials at exact epochs.
        raw.update(num_samples=8, max_epochs=4, checkpoint_interval_s=0,
                   scheduler={"grace_period": 2, "reduction_factor": 2},
                   resources={"trials_per_gpu": 1, "cpus_per_trial": 1})
        raw["sampler"] = {**(raw.get("sampler") or {}), "n_startup_trials": 4}
        raw.pop("confirm", None)  # the smoke sweep confirms only when --confirm asks
    if opts.confirm is not None:
        raw["confirm"] = {**(raw.get("confirm") or {}), "top_k": opts.confirm[0],
                          "seeds": opts.confirm[1]}
    for flag, key in ((opts.num_samples, "num_samples"), (opts.max_epochs, "max_epochs")):
        if flag is not None:
            raw[key] = flag
    if opts.trials_per_gpu is not None:
        raw["resources"] = {**(raw.get("resources") or {}), "trials_per_gpu": opts.trials_per_gpu}
    base_cfg = load_config(space.base_config, (SMOKE_OVERRIDES if opts.smoke else []) +
                           cpu_overrides + list(opts.overrides))
    # The metric must be one the task produces (--set may have changed task.type).
    known = metrics_for(base_cfg.task.type)
    if opts.metric is not None:
        if opts.metric not in known:
            raise ConfigError("--metric", [("", f"{base_cfg.task.type} tasks do not produce "
                                                f"{opts.metric!r}; they produce "
                                                f"{', '.join(known)}")])
        raw["metric"] = opts.metric
        raw["mode"] = known[opts.metric]
    elif space.metric not in known:
        raise ConfigError(str(opts.space), [("metric", f"{base_cfg.task.type} tasks do not "
                                                       f"produce {space.metric!r}; they produce "
                                                       f"{', '.join(known)}")])
    raw["base_config"] = str(space.base_config)
    return {"space": raw, "space_file": str(opts.space.resolve()),
            "base": config_to_dict(base_cfg), "max_failures": opts.max_failures,
            "scaled_for_cpu": scaled, "created": datetime.now().isoformat(timespec="seconds")}


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def check_params_fit_config(space: SearchSpace, base: dict) -> None:
    """Every bound and choice of every parameter must give a valid config.

    Raises:
        ConfigError: naming ``params.<key>`` and the value that breaks the config.
    """
    problems = []
    fixed = fixed_params(space)  # every trial has them: a value is checked together with them
    for p in space.params:
        samples = {"float": [p.low, p.high], "int": [p.low, p.high],
                   "categorical": list(p.choices or ()), "fixed": [p.value]}[p.type]
        for v in samples:
            try:
                trial_config(base, {**fixed, p.name: v}, space.max_epochs, "<check>")
            except ConfigError as exc:
                msgs = "; ".join(m for _, m in exc.problems)
                problems.append((f"params.{p.name}", f"value {v!r} gives an invalid config: "
                                                     f"{msgs}"))
                break
    if problems:
        raise ConfigError(space.source, problems)


def _check_model(space: SearchSpace, spec: dict, data) -> None:
    """The model builds and answers a probe batch, with every tuned ``model.kwargs`` name set (to
    its first value); a user model is tuned through ``model.kwargs`` only."""
    from core.models import check_model, is_builtin

    tuned = {p.name: p.low if p.type in ("float", "int") else
             (p.choices[0] if p.type == "categorical" else p.value)
             for p in space.params if p.name.startswith("model.")}
    cfg = trial_config(spec["base"], tuned, space.max_epochs, space.source)
    source = f"{spec['space']['base_config']} with {space.source}" if tuned else \
        spec["space"]["base_config"]
    stray = [k for k in tuned if not k.startswith("model.kwargs.")]
    if stray and not is_builtin(cfg.model):
        raise ConfigError(space.source, [(f"params.{k}", f"{cfg.model.name} is a user model: it "
                                          "gets model.kwargs only; tune model.kwargs.<name>")
                                         for k in stray])
    check_model(cfg.model, data.num_features, data.num_outputs,
                seq_len=int(data.train.x.shape[1]), source=source)


def _dashboard_available() -> bool:
    try:
        import ray.dashboard.optional_deps  # noqa: F401  (what ray[default] adds)
    except ImportError:
        return False
    return True


@dataclass
class _Sweep:
    """A sweep ready to run: its spec, space, directory, study name and data."""

    spec: dict
    space: SearchSpace
    exp_dir: Path
    name: str
    data: DataSplits
    checks: list[tuple[str, str]] = field(default_factory=list)  # pre-flight (level, line)
    warm: list = field(default_factory=list)  # earlier trials to seed the study with
    warm_skipped: dict[str, int] = field(default_factory=dict)  # reason -> trials skipped
    extended_from: int | None = None  # --resume --num-samples: the sweep's earlier size


def _prepare(opts: SweepOptions) -> _Sweep:
    """Reads and checks everything before anything is written.

    Raises:
        ConfigError: the space or base config is invalid, or the data do not fit it (a
            ``DataError``, its cause, named with the base config file and key).
        SweepError: the directory, name or flags are wrong.
    """
    remote = is_uri(opts.storage_path)
    # A URI holds the trials; the ledger (SQLite study, trials.csv, log) needs a local disk.
    storage = Path("runs/sweeps" if remote else opts.storage_path).expanduser().resolve()
    spec: dict = {}
    try:
        if opts.resume is not None:
            exp_dir = opts.resume.expanduser().resolve()
            if not is_sweep_dir(exp_dir):
                raise SweepError(f"{exp_dir}: not a sweep directory (no {SPEC_FILE})")
            spec = read_spec(exp_dir)
            if opts.space is not None:
                # --num-samples extends the sweep; the space file itself must be the same.
                changed = spec_changes(spec, new_spec(dataclasses.replace(opts,
                                                                          num_samples=None)))
                if changed:
                    raise SweepError(f"{opts.space}: differs from the space {exp_dir.name} "
                                     f"started with ({', '.join(changed)}); resume without "
                                     "--space, or start a new sweep")
            name = exp_dir.name
            extended_from = None
            if opts.num_samples is not None and opts.num_samples != spec["space"]["num_samples"]:
                started = _trials_started(exp_dir)
                if opts.num_samples < started:
                    raise SweepError(f"--num-samples {opts.num_samples}: {exp_dir.name} has "
                                     f"{started} trials already; it can only be extended")
                extended_from = spec["space"]["num_samples"]
                spec["space"]["num_samples"] = opts.num_samples
            space = space_of(spec, str(exp_dir / SPEC_FILE))
        else:
            if opts.space is None:
                raise SweepError("--space is required (or --resume DIR)")
            spec = new_spec(opts)
            space = space_of(spec, str(opts.space))
            name = opts.name if opts.name is not None else \
                f"{opts.space.stem}-{datetime.now():%Y%m%d-%H%M%S}"
            problem = check_name(name)
            if problem:
                raise SweepError(f"--name: {problem}")
            exp_dir = storage / name
            if is_sweep_dir(exp_dir):
                raise SweepError(f"{exp_dir} already holds a sweep; continue it with --resume "
                            f"{exp_dir}, or choose another --name")
            spec["trial_storage"] = join_uri(opts.storage_path, name, "tune") if remote else None
            extended_from = None
        base_cfg = config_from_dict(spec["base"], f"{spec['space']['base_config']}")
        check_params_fit_config(space, spec["base"])
        data = load_data(base_cfg.data, base_cfg.task)
        _check_model(space, spec, data)
        checks = preflight(space, spec["base"], len(data.train), spec["space"]["base_config"])
        warm, skipped = [], {}
        if opts.warm_start is not None and opts.resume is None:
            try:
                warm, skipped = warm_start_trials(opts.warm_start.expanduser().resolve(), space)
            except ValueError as exc:
                raise SweepError(f"--warm-start: {exc}") from None
    except DataError as exc:
        raise ConfigError(spec["space"]["base_config"], [(exc.key, exc.message)]) from exc
    return _Sweep(spec, space, exp_dir, name, data, checks, warm, skipped, extended_from)


def _trials_started(exp_dir: Path) -> int:
    """The sweep's own trials in its study (any state), 0 without a study."""
    try:
        study = load_study(exp_dir)
    except ValueError:
        return 0
    return sum("warm_start_from" not in t.user_attrs for t in study.get_trials(deepcopy=False))


def _create(opts: SweepOptions, sweep: _Sweep) -> None:
    """Makes a new sweep's directory and freezes its spec.

    Raises:
        SweepError: the storage cannot be written.
    """
    if sweep.spec["trial_storage"]:
        try:
            TrialStore(sweep.spec["trial_storage"]).check_writable()
        except (OSError, ValueError) as exc:
            raise SweepError(f"--storage-path: cannot write to {sweep.spec['trial_storage']}: "
                             f"{exc}") from None
    try:
        sweep.exp_dir.mkdir(parents=True, exist_ok=True)
        probe = sweep.exp_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise SweepError(f"--storage-path: cannot write to {sweep.exp_dir}: "
                         f"{exc.strerror}") from None
    write_spec(sweep.exp_dir, sweep.spec)


def main(argv: list[str] | None = None) -> int:
    """Runs the sweep command; returns its exit code (0, 2 or 130)."""
    args = build_parser().parse_args(argv)
    refused = resume_refusals(args) if args.resume is not None else []
    if refused:
        return fail(f"--resume continues a sweep with its frozen spec (space, budget, base "
                    f"config); it cannot honour {', '.join(refused)}. --num-samples extends it; "
                    "--time-budget, --address, --mps and --dashboard apply to this run")
    opts = SweepOptions.from_args(args)
    if opts.ray.dashboard and not _dashboard_available():
        return fail("--dashboard needs Ray's dashboard dependencies: "
                    "pip install -e \".[dashboard]\"")
    try:
        code, _ = drive(opts)
    except (ConfigError, SweepError) as exc:
        return fail(str(exc))
    return code


def drive(opts: SweepOptions) -> tuple[int, Path]:
    """Starts or resumes the sweep ``opts`` describe and runs it until it ends.

    Returns:
        The exit code (``EXIT_OK``; ``EXIT_INTERRUPTED`` when interrupted, or when trials are
        still missing without a time budget; ``EXIT_USAGE`` when ``mps="on"`` cannot start CUDA
        MPS, said on stderr) and the experiment directory.

    Raises:
        ConfigError: the space, the base config or the data are invalid (file and key named).
        SweepError: a bad directory, name or flag, or the sweep is running elsewhere.
        Nothing is written before these checks pass.
    """
    sweep = _prepare(opts)
    holder = running_pid(sweep.exp_dir) if opts.resume is not None else None
    if holder is not None:
        raise SweepError(f"{sweep.exp_dir}: the sweep is running (driver pid {holder}); stop it "
                         "first")
    if opts.resume is None:
        _create(opts, sweep)
    setup_logging("tuning", sweep.exp_dir / LOG_FILE)
    with hold_lock(sweep.exp_dir):
        _log_start(opts, sweep)
        try:
            return _run(opts, sweep), sweep.exp_dir
        except KeyboardInterrupt:
            # A second Ctrl-C, or one outside Tune's own handler: the study and disk are
            # consistent at every point (a resume reconciles them), so stopping here loses no
            # finished work.
            return _interrupted(sweep.exp_dir, None), sweep.exp_dir


def _log_start(opts: SweepOptions, sweep: _Sweep) -> None:
    """What the user should know before the trials start: the CPU scaling, the pre-flight, an
    extended sweep's new size (frozen into its spec here, under the lock)."""
    scaled = sweep.spec.get("scaled_for_cpu")
    if scaled and opts.resume is None:
        log.info("no GPU: the space's cpu: section scales this sweep down to finish in minutes "
                 "on a few cores: %s. For the full size: --full-size (or a GPU)",
                 "; ".join(scaled))
    for level, line in sweep.checks:
        getattr(log, level)("%s%s", "warning: " if level == "warning" else "", line)
    if sweep.extended_from is not None:
        write_spec(sweep.exp_dir, sweep.spec)
        log.info("num_samples: %d -> %d (--num-samples extends the sweep)", sweep.extended_from,
                 sweep.space.num_samples)


def resume_command(exp_dir: Path, environ=None) -> str:
    """The command that resumes the sweep in ``exp_dir``, pasted the way the user started it:
    ``make sweep ARGS="--resume DIR"`` under make (the Makefile sets ``SEQTUNE_VIA_MAKE``), else
    this interpreter (``python`` when that is the one on the PATH) with ``-m tuning.sweep``."""
    import os
    import shlex
    import shutil

    environ = os.environ if environ is None else environ
    where = shlex.quote(str(exp_dir))
    if environ.get("SEQTUNE_VIA_MAKE"):
        return f'make sweep ARGS="--resume {where}"'
    on_path = shutil.which("python", path=environ.get("PATH"))
    same = on_path is not None and Path(on_path).resolve() == Path(sys.executable).resolve()
    python = "python" if same else shlex.quote(sys.executable)
    return f"{python} -m tuning.sweep --resume {where}"


def _interrupted(exp_dir: Path, counts: tuple[int, int] | None) -> int:
    if counts is not None:
        log.info("sweep interrupted: %d of %d trials finished", *counts)
    print(f"\nresume with: {resume_command(exp_dir)}", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def _run(opts: SweepOptions, sweep: _Sweep) -> int:
    study, storage = open_study(sweep.exp_dir, sweep.name, sweep.space)
    space, budget = sweep.space, opts.ray.time_budget
    search_opts = opts
    if space.confirm_top_k and budget is not None:
        search_budget = budget * (1 - space.confirm_budget_share)
        log.info("time budget %g s: %g s for the search, the rest (%.0f%%) for confirmation",
                 budget, search_budget, 100 * space.confirm_budget_share)
        search_opts = dataclasses.replace(
            opts, ray=dataclasses.replace(opts.ray, time_budget=search_budget))
    t0 = time.monotonic()
    try:
        code = _sweep(search_opts, sweep, study)
        if code == EXIT_OK and space.confirm_top_k:
            left = None if budget is None else budget - (time.monotonic() - t0)
            code = _confirm(opts, sweep, study, left)
    finally:
        storage.close()
    if code == EXIT_INTERRUPTED:
        publish_ledger(sweep.exp_dir)
        return _interrupted(sweep.exp_dir, (count_finished(study), sweep.space.num_samples))
    if code == EXIT_OK:
        _export(sweep.exp_dir, sweep.space)
    if code in (EXIT_OK, EXIT_TRAINING):
        publish_ledger(sweep.exp_dir)
    return code


def _confirm(opts: SweepOptions, sweep: _Sweep, study, budget_s: float | None) -> int:
    """The confirmation phase (``tuning.confirm``) after a finished search; the exit code."""
    space, exp_dir = sweep.space, sweep.exp_dir
    if budget_s is not None and budget_s <= 0:
        log.warning("confirmation skipped: the time budget is spent")
        return EXIT_OK
    ray_opts = dataclasses.replace(opts.ray, time_budget=budget_s)
    code, confirm = run_confirmation(
        ray_opts, sweep.spec, space, exp_dir, study, sweep.data,
        _throttled(lambda: write_trials_csv(study, exp_dir, space), CSV_REFRESH_S))
    write_trials_csv(study, exp_dir, space, confirm, confirm_key)
    summary = summarize(exp_dir, space, confirm)
    write_confirmation(exp_dir, summary)
    unfinished = sum(not t.state.is_finished() for t in confirm.get_trials(deepcopy=False))
    if code == EXIT_OK and unfinished and budget_s is None:
        code = EXIT_INTERRUPTED
    if summary["winner"] is not None:
        w = summary["candidates"][summary["winner"]]
        top = summary["candidates"][0]
        log.info("confirmed winner: the configuration of %s: %s mean %.4f, 95%% interval "
                 "[%.4f, %.4f] over %d seed(s) (last epoch); search-phase best %s (%.4f)%s",
                 w["trial"], space.metric, w["mean"], w["low"], w["high"], w["n"],
                 top["trial"], top["search_score"],
                 "" if top is w else f", confirmed mean {top['mean']:.4f}")
    else:
        log.warning("confirmation: no run finished; the search-phase best stands")
    return code


def run_confirmation(ray_opts: RayOptions, spec: dict, space: SearchSpace, exp_dir: Path,
                     search, data: DataSplits, on_change) -> tuple[int, Any]:
    """Plans and runs (or continues) the confirmation of the search in ``search``; returns the
    exit code of its Tune run (``tuning.tuner.run_trials``) and the confirmation study. Runs
    already finished on disk are closed, not run again (``tuning.resume.reconcile``)."""
    from tuning.study import open_confirm_study

    confirm = open_confirm_study(search)
    cands = confirm_plan(confirm, search, space, spec["base"])
    if not cands:
        log.warning("confirmation: no finished search trial to confirm")
        return 0, confirm
    continuing = reconcile(confirm, exp_dir, space, key_of=confirm_key)
    runs = len(confirm.get_trials(deepcopy=False))
    log.info("confirmation: %d candidate(s) (%s) x %d seed(s) %s, %d epochs each; %d of %d runs "
             "to go", len(cands), " ".join(c["trial"] for c in cands),
             len(confirm.user_attrs["seeds"]), confirm.user_attrs["seeds"], space.max_epochs,
             len(continuing), runs)
    code = 0
    if continuing:
        code = run_trials(ray_opts, spec, space, exp_dir, confirm, continuing, len(continuing),
                          data, on_change, key_of=confirm_key, asha=False, evaluate_test=True)
    return code, confirm


def _export(exp_dir: Path, space: SearchSpace) -> None:
    best_config = exp_dir / BEST_CONFIG_FILE
    try:
        best = export_best(exp_dir, best_config, allow_partial=True)
    except ValueError as exc:
        log.warning("no best configuration: %s", exc)
        return
    log.info("best trial %s: %s = %.4f at epoch %d", best["trial"], space.metric, best["value"],
             best["epoch"])
    if best["checkpoint_epoch"] not in ("", best["epoch"]):
        log.info("checkpoint: %s (epoch %s: the best epoch's was not saved)", best["checkpoint"],
                 best["checkpoint_epoch"])
    else:
        log.info("checkpoint: %s", best["checkpoint"] or "(none kept)")
    log.info("config: %s  (train it: python -m core.train --config %s)", best_config,
             best_config)


def _throttled(fn: Callable[[], None], interval_s: float) -> Callable[[], None]:
    """``fn`` at most once per ``interval_s`` seconds (the driver's loop serves every trial; a
    refresh per finished trial, each reading all trials' results, grows with the sweep
    squared). The sweep writes trials.csv once more when Tune returns."""
    last = [float("-inf")]

    def call() -> None:
        now = time.monotonic()
        if now - last[0] >= interval_s:
            last[0] = now
            fn()

    return call


def _sweep(opts: SweepOptions, sweep: _Sweep, study) -> int:
    """Runs what the study still needs, then writes trials.csv; the exit code."""
    space, exp_dir = sweep.space, sweep.exp_dir
    if opts.warm_start is not None and opts.resume is None:
        added = warm_start(study, sweep.warm)
        log.info("warm start: %d trials from %s", added, opts.warm_start)
        for reason, n in sorted(sweep.warm_skipped.items(), key=lambda kv: -kv[1]):
            log.warning("warm start: %d earlier trial(s) skipped, this space cannot draw them: "
                        "%s", n, reason)
    continuing = reconcile(study, exp_dir, space) if opts.resume is not None else []
    finished = count_finished(study)
    to_run = len(continuing) + max(space.num_samples - finished - len(continuing), 0)
    log.info("sweep %s: %d of %d trials finished, %d to continue, %d to run in all",
             sweep.name, finished, space.num_samples, len(continuing), to_run)
    code = EXIT_OK
    if to_run > 0:
        refresh = _throttled(lambda: write_trials_csv(study, exp_dir, space), CSV_REFRESH_S)
        code = run_trials(opts.ray, sweep.spec, space, exp_dir, study, continuing, to_run,
                          sweep.data, refresh)
        write_events(exp_dir, study)
    write_trials_csv(study, exp_dir, space)
    if code == EXIT_OK and count_finished(study) < space.num_samples and \
            opts.ray.time_budget is None:
        code = EXIT_INTERRUPTED
    if code == EXIT_OK:
        code = _all_failed(study)
    return code


def _all_failed(study) -> int:
    """``EXIT_TRAINING`` with the most common reason when the sweep has trials and every one
    failed (nothing to export, nothing learned), else ``EXIT_OK``."""
    own = [t for t in study.get_trials(deepcopy=False) if "warm_start_from" not in t.user_attrs]
    if not own or any(t.state.name != "FAIL" for t in own):
        return EXIT_OK
    reason, n = most_common_failure(own)
    log.error("no trial finished: all %d failed; the most common reason (%d of them): %s",
              len(own), n, reason)
    return EXIT_TRAINING


if __name__ == "__main__":
    sys.exit(main())
