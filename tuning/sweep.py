"""The sweep: ``python -m tuning.sweep --space search_spaces/gru.yaml``.

Ray Tune runs the trials (ASHA stops the weak ones early), an Optuna study chooses their
hyperparameters (TPE by default) and is the sweep's ledger. The experiment directory::

    runs/sweeps/<name>/
      sweep.yaml          frozen spec: the space as read, the resolved base config, the budget
      study.db            Optuna study (SQLite): optuna-dashboard sqlite:///.../study.db
      trials.csv          one row per trial: status, epochs, best/last metric, params, checkpoint
      best_config.yaml    complete standalone config of the best trial (python -m core.train)
      sweep.log           the driver's log
      tune/run-<k>/<trial>/   Ray Tune's trial directories and checkpoints, one run per start

Resume (``--resume DIR``) reconciles the study with the disk rather than trusting a snapshot: a
trial whose final epoch is on disk is closed as COMPLETE without running again, an unfinished one
continues from its latest checkpoint under its original trial number, and only the missing
trials are newly sampled, so the sweep ends with exactly ``num_samples`` trials.

Exit codes: 0 finished, 2 bad input (nothing written), 130 interrupted (resume it).
"""

from __future__ import annotations

import argparse
import copy
import csv
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from core.checkpoint import CheckpointError, atomic_write_text, load_checkpoint
from core.cli import int_at_least, port, positive_seconds
from core.config import ConfigError, config_from_dict, config_to_dict, load_config, load_yaml
from core.data import DataError, load_data
from core.train import SMOKE_OVERRIDES
from tuning.space import SearchSpace, compile_space, parse_space
from tuning.trainable import CHECKPOINT_FILE, trial_config, unbatch

log = logging.getLogger("tuning")

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130
SPEC_FILE = "sweep.yaml"
LOCK_FILE = "sweep.lock"  # "<pid> <host>" while a driver runs the sweep


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tuning.sweep", description=__doc__.split("\n")[0])
    p.add_argument("--space", type=Path, help="search-space YAML (see search_spaces/)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="continue the sweep in DIR")
    p.add_argument("--name", help="experiment name (default: <space>-<timestamp>)")
    p.add_argument("--storage-path", default="runs/sweeps",
                   help="parent of experiment directories (made absolute; default runs/sweeps), "
                        "or a URI such as s3://bucket/sweeps for the trials' results and "
                        "checkpoints (the study and trials.csv then stay in runs/sweeps/<name> "
                        "and are copied there when the sweep stops)")
    p.add_argument("--num-samples", type=int_at_least(1),
                   help="trials in total (overrides the space)")
    p.add_argument("--max-epochs", type=int_at_least(1),
                   help="epochs of a full trial (overrides the space)")
    p.add_argument("--trials-per-gpu", type=int_at_least(1),
                   help="trials sharing one GPU (overrides)")
    p.add_argument("--time-budget", type=positive_seconds, metavar="SECONDS",
                   help="stop the sweep after this much Tune time; trials still running are "
                        "recorded as pruned, and the sweep ends normally")
    p.add_argument("--max-failures", type=int_at_least(0), default=2,
                   help="retries of an errored trial, from its last checkpoint (default 2)")
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
    p.add_argument("--smoke", action="store_true",
                   help="tiny CPU sweep for tests: 8 trials of 4 epochs on tiny data")
    return p


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _dashboard_available() -> bool:
    try:
        import ray.dashboard.optional_deps  # noqa: F401  (what ray[default] adds)
    except ImportError:
        return False
    return True


def _valid_name(name: str) -> bool:
    return (0 < len(name) <= 100 and not name.startswith(".") and
            all(c.isalnum() or c in "._-" for c in name))


# ---------------------------------------------------------------------------------------------
# Building the spec


def _spec_from_args(args) -> dict:
    """Reads and validates everything a new sweep needs; raises ConfigError naming file and key."""
    from tuning.space import load_space

    space = load_space(args.space)
    raw = copy.deepcopy(space.raw)
    if args.smoke:
        # Checkpoints every epoch: the fault tests kill and resume trials at exact epochs.
        raw.update(num_samples=8, max_epochs=4, checkpoint_interval_s=0,
                   scheduler={"grace_period": 2, "reduction_factor": 2},
                   resources={"trials_per_gpu": 1, "cpus_per_trial": 1})
        raw["sampler"] = {**(raw.get("sampler") or {}), "n_startup_trials": 4}
    for flag, key in ((args.num_samples, "num_samples"), (args.max_epochs, "max_epochs")):
        if flag is not None:
            raw[key] = flag
    if args.trials_per_gpu is not None:
        raw["resources"] = {**(raw.get("resources") or {}), "trials_per_gpu": args.trials_per_gpu}
    base_cfg = load_config(space.base_config, (SMOKE_OVERRIDES if args.smoke else []) +
                           list(args.overrides))
    raw["base_config"] = str(space.base_config)
    return {"space": raw, "space_file": str(args.space.resolve()),
            "base": config_to_dict(base_cfg), "max_failures": args.max_failures,
            "created": datetime.now().isoformat(timespec="seconds")}


def _space_of(spec: dict, source: str) -> SearchSpace:
    return parse_space(spec["space"], source, Path(spec["space_file"]).parent)


def _check_params_fit_config(space: SearchSpace, base: dict) -> None:
    """Every bound and choice of every parameter must give a valid config."""
    from tuning.preflight import fixed_params

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


# ---------------------------------------------------------------------------------------------
# Study and disk


def _storage(exp_dir: Path):
    from tuning.storage import sqlite_storage

    return sqlite_storage(exp_dir / "study.db")


def load_study(exp_dir: Path):
    """The sweep's study, whatever the directory is called now. Never creates a database:
    opening an SQLite URL creates and migrates one, which must be the driver's job alone."""
    import optuna

    if not (exp_dir / "study.db").is_file():
        raise ValueError(f"{exp_dir}: no study.db (yet)")
    storage = _storage(exp_dir)
    names = optuna.get_all_study_names(storage)
    if len(names) != 1:
        raise ValueError(f"{exp_dir / 'study.db'}: expected one study, found {len(names)}")
    return optuna.load_study(study_name=names[0], storage=storage)


def _sampler(space: SearchSpace, offset: int = 0):
    """The space's sampler. ``offset`` (trials already in the study) shifts the seed, so that a
    resumed sweep does not replay the random draws of its first start and repeat configs."""
    import optuna

    seed = space.sampler_seed + offset
    if space.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if space.sampler == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    # constant_liar: trials running in parallel are treated as pessimistic results so that
    # concurrent suggestions spread out instead of piling onto one region.
    from tuning.failures import FailureAwareTPESampler

    return FailureAwareTPESampler(seed=seed, n_startup_trials=space.n_startup_trials,
                                  multivariate=True, group=True, constant_liar=True)


def _open_study(exp_dir: Path, name: str, space: SearchSpace):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = exp_dir / "study.db"
    if not db.exists():
        # Build the schema in a private file, then rename it into place: a reader that opens
        # study.db (report, export, optuna-dashboard) never meets a half-created database.
        tmp = exp_dir / ".study.db.tmp"
        tmp.unlink(missing_ok=True)
        storage = optuna.storages.RDBStorage(f"sqlite:///{tmp}")
        optuna.create_study(storage=storage, study_name=name,
                            direction="maximize" if space.mode == "max" else "minimize")
        storage.engine.dispose()
        os.replace(tmp, db)
    from tuning.storage import MirroredStorage

    # The driver reads the study from memory; a writer thread copies it to study.db
    # (tuning.storage).
    storage = MirroredStorage(_storage(exp_dir))
    study = optuna.create_study(storage=storage, study_name=name,
                                direction="maximize" if space.mode == "max" else "minimize",
                                sampler=_sampler(space), load_if_exists=True)
    existing = len(study.get_trials(deepcopy=False))
    if existing:
        study.sampler = _sampler(space, offset=existing)
    return study, storage


def trial_store(exp_dir: Path):
    """Where the sweep in ``exp_dir`` keeps its trials: ``exp_dir/tune``, or the URI its spec
    names (``--storage-path`` was a URI)."""
    from tuning.trial_store import TrialStore

    exp_dir = Path(exp_dir)
    spec_path = exp_dir / SPEC_FILE
    if not spec_path.is_file():
        return TrialStore(exp_dir / "tune")
    if exp_dir not in _STORES:  # the spec is frozen once written
        uri = load_yaml(spec_path).get("trial_storage")
        _STORES[exp_dir] = TrialStore(uri or exp_dir / "tune")
    return _STORES[exp_dir]


_STORES: dict[Path, Any] = {}


def _latest_checkpoint(exp_dir: Path, key: str) -> tuple[str | None, dict | None, int]:
    """The trial's newest verified checkpoint across runs (its path or URI), its state, and how
    many files failed to verify.

    A damaged checkpoint (truncated, empty, bit-flipped: its SHA-256 disagrees) is skipped with a
    warning naming it, and the newest older verified one is used instead.
    """
    import tempfile

    from tuning.trial_store import local_file

    store = trial_store(exp_dir)
    found = [f for d in store.trial_dirs(key) for f in store.checkpoint_files(d, CHECKPOINT_FILE)]
    best: tuple[str | None, dict | None] = (None, None)
    damaged = 0
    with tempfile.TemporaryDirectory(prefix="seqtune-") as tmp:
        for path in found:
            try:
                state = load_checkpoint(local_file(store.uri(path), tmp))
            except CheckpointError as exc:
                log.warning("skipping damaged checkpoint: %s",
                            f"{store.uri(path)}: {exc}" if store.remote else exc)
                damaged += 1
                continue
            if best[1] is None or state["epoch"] > best[1]["epoch"]:
                best = (store.uri(path), state)
    return best[0], best[1], damaged


_PARSED: dict[str, tuple[tuple[int, int], list[dict]]] = {}  # result.json -> (stat, rows)


def _parsed_results(store, path: str) -> list[dict]:
    """The epoch rows of one result.json, re-read only when its size or mtime changed: the
    driver refreshes trials.csv from every trial's file, and finished trials' files never
    change."""
    stamp = store.stat(path)
    if stamp is None:
        return []
    cached = _PARSED.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    parsed = []
    for line in store.read_text(path).splitlines():
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    rows = [r for r in unbatch(parsed) if "epoch" in r]
    for r in rows:
        r["_dir"] = path.rsplit("/", 1)[0]
    _PARSED[path] = (stamp, rows)
    return rows


def _results(exp_dir: Path, key: str) -> list[dict]:
    """Every result the trial reported, across runs, in order (deduplicated by epoch). The rows
    are shared with a cache: read them, do not change them. (With a URI store, Tune uploads
    result.json files periodically and at the end of each run; the study has every epoch.)"""
    store = trial_store(exp_dir)
    rows: dict[int, dict] = {}
    for d in store.trial_dirs(key):
        rows.update((int(r["epoch"]), r) for r in _parsed_results(store, f"{d}/result.json"))
    return [rows[e] for e in sorted(rows)]


def _disk_params(exp_dir: Path, key: str) -> dict | None:
    """The parameters the trial was started with, from Tune's ``params.json`` in its newest
    directory, or None."""
    store = trial_store(exp_dir)
    for d in reversed(store.trial_dirs(key)):
        try:
            params = json.loads(store.read_text(f"{d}/params.json")).get("params")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(params, dict):
            return params
    return None


def reconcile(study, exp_dir: Path, space: SearchSpace) -> list:
    """Brings RUNNING trials of an interrupted sweep in line with the disk.

    Returns the trials to continue. A trial whose last epoch (``max_epochs``) is on disk is closed
    as COMPLETE with its best value; one with no checkpoint restarts from scratch; any other one
    continues from its latest verified checkpoint.
    """
    from optuna.trial import TrialState

    from tuning.searcher import Continuing, finite, trial_by_number, trial_key

    continuing = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        key = trial_key(t.number)
        path, state, damaged = _latest_checkpoint(exp_dir, key)
        trial = trial_by_number(study, t.number)
        if state is None and damaged:
            # Never a silent restart from scratch: its work is lost, so the trial is FAIL.
            trial.set_user_attr("failure", "checkpoints damaged")
            study.tell(t.number, state=TrialState.FAIL)
            log.error("%s: all %d checkpoints are damaged; recorded as FAIL", key, damaged)
            continue
        history = state["history"] if state else []
        if "params" not in t.user_attrs:
            # Killed while its parameters were being drawn or written: the values it started
            # with (Tune's params.json) are fixed, define-by-run again returns them and those
            # already drawn, and samples only what is missing (a trial that never started).
            started = _disk_params(exp_dir, key)
            if started:
                study._storage.set_trial_system_attr(t._trial_id, "fixed_params", started)
                trial = trial_by_number(study, t.number)  # a Trial reads fixed_params once
            trial.set_user_attr("params", compile_space(space.params)(trial))
        for h in history:
            value = h.get(space.metric)
            if h["epoch"] not in t.intermediate_values and finite(value):
                trial.report(float(value), int(h["epoch"]))
        params = study.get_trials(deepcopy=False)[t.number].user_attrs["params"]
        if state is not None and state["epoch"] >= space.max_epochs:
            values = [h[space.metric] for h in history if finite(h.get(space.metric))]
            best = (max if space.mode == "max" else min)(values)
            study.tell(t.number, best)
            log.info("%s: finished on disk (%d epochs); recorded as COMPLETE", key,
                     state["epoch"])
        else:
            continuing.append(Continuing(t.number, params, path))
            log.info("%s: continues from %s", key,
                     f"epoch {state['epoch']}" if state else "the start (no checkpoint)")
    return continuing


STATUS = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "errored", "RUNNING": "running",
          "WAITING": "waiting"}


def trial_rows(study, exp_dir: Path, space: SearchSpace) -> list[dict]:
    """One row per trial, from the study (states, values) and the disk (checkpoints)."""
    from tuning.searcher import trial_key

    rows = []
    pick = max if space.mode == "max" else min
    store = trial_store(exp_dir)
    for t in study.get_trials(deepcopy=False):
        key = trial_key(t.number)
        values = t.intermediate_values
        best_epoch = pick(values, key=values.get) if values else None
        # The best epoch's checkpoint where one was saved (trials save every
        # checkpoint_interval_s and at their last epoch), else the trial's newest.
        checkpoint, checkpoint_epoch = "", ""
        if best_epoch is not None:
            saved = [r for r in _results(exp_dir, key) if r.get("checkpoint_dir_name")]
            best_first = sorted(saved, key=lambda r: (r.get(space.metric) == values[best_epoch],
                                                      r["epoch"]), reverse=True)
            for r in best_first:
                if store.exists(f"{r['_dir']}/{r['checkpoint_dir_name']}"):
                    checkpoint = store.uri(f"{r['_dir']}/{r['checkpoint_dir_name']}/"
                                           f"{CHECKPOINT_FILE}")
                    checkpoint_epoch = r["epoch"]
                    break
        row = {"trial": key, "number": t.number, "status": STATUS.get(t.state.name, t.state.name),
               "epochs": max(values) if values else 0,
               f"best_{space.metric}": values[best_epoch] if values else "",
               "best_epoch": best_epoch or "",
               f"last_{space.metric}": values[max(values)] if values else "",
               "failure": t.user_attrs.get("failure", ""),
               "gpu": t.user_attrs.get("gpu", ""), "node": t.user_attrs.get("node", ""),
               "checkpoint": checkpoint, "checkpoint_epoch": checkpoint_epoch}
        for k, v in (t.user_attrs.get("params") or t.params).items():
            row[f"param:{k}"] = v
        rows.append(row)
    return rows


CSV_REFRESH_S = 5.0  # trials.csv during a sweep; it reads every trial's results, so not per trial


def _throttled(fn, interval_s: float):
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


def write_trials_csv(study, exp_dir: Path, space: SearchSpace) -> None:
    rows = trial_rows(study, exp_dir, space)
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(exp_dir / "trials.csv", buf.getvalue())


def _warm_start(study, source: Path, space: SearchSpace) -> int:
    """Adds an earlier sweep's finished trials (same parameter names) to ``study``."""
    import optuna
    from optuna.trial import TrialState

    old = load_study(source)
    names = {p.name for p in space.params}
    added = 0
    for t in old.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if not set(t.params) <= names:
            continue
        study.add_trial(optuna.trial.create_trial(
            params=t.params, distributions=t.distributions, value=t.value if t.state ==
            TrialState.COMPLETE else None, intermediate_values=t.intermediate_values,
            state=t.state, user_attrs={"warm_start_from": str(source)}))
        added += 1
    return added


# ---------------------------------------------------------------------------------------------
# Worker processes


def worker_bytecode_cache(environ) -> str | None:
    """Lets the sweep's Ray workers cache bytecode when the environment forbids it.

    Container images often set ``PYTHONDONTWRITEBYTECODE=1`` and ship no ``.pyc`` files, so
    every new process compiles torch and Ray from source: on an H100 machine so configured, a
    new worker took 15.6 s to its first training step, and 4.5 s once it could reuse compiled
    bytecode (``benchmarks/cold_start.py``). The workers inherit ``environ`` at ``ray.init``;
    they keep their bytecode in a private cache (``PYTHONPYCACHEPREFIX``, under
    ``$XDG_CACHE_HOME/seqtune``), never next to the sources. Returns that folder, or None
    where nothing changed (bytecode allowed, or a prefix already chosen)."""
    if not environ.get("PYTHONDONTWRITEBYTECODE") or environ.get("PYTHONPYCACHEPREFIX"):
        return None
    cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "seqtune" / "pycache"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    environ["PYTHONDONTWRITEBYTECODE"] = ""  # Python reads an empty value as unset
    environ["PYTHONPYCACHEPREFIX"] = str(cache)
    return str(cache)


# Modules every trial imports. A local Ray imports them into its idle workers, which it starts
# (one per CPU) as soon as the driver connects: a trial that lands on a new worker then skips
# importing torch and Ray (2.6 s even with cached bytecode on an H100 machine). torch._dynamo is
# imported by the first optimizer a process builds (3.2 s of a first trial's setup on the CI
# machine).
WORKER_PRELOAD = ("torch", "torch._dynamo", "ray.tune", "tuning.trainable")


# What Tune gives every trial actor as a runtime environment of its own (ray.tune.execution.
# class_cache.DEFAULT_ENV_VARS); a local Ray's workers inherit it from the driver instead.
TUNE_TRIAL_ENV = {"PL_DISABLE_FORK": "1"}


def worker_preload(environ) -> dict[str, Any]:
    """Ray system config that preloads ``WORKER_PRELOAD`` into a local Ray's idle workers.

    ``environ`` (which the workers inherit at ``ray.init``) gets ``TUNE_TRIAL_ENV``, for
    ``share_idle_workers``, and the project root on ``PYTHONPATH``: idle workers import before
    they know their job, so they find this project only through it."""
    for key, value in TUNE_TRIAL_ENV.items():
        environ.setdefault(key, value)
    root = str(Path(__file__).resolve().parents[1])
    paths = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        environ["PYTHONPATH"] = os.pathsep.join([root, *paths])
    return {"preload_python_modules": list(WORKER_PRELOAD)}


def share_idle_workers() -> bool:
    """Lets Tune's trial actors run on a local Ray's idle (preloaded) workers. False where Tune's
    internals are not what this expects; trials then start new worker processes, as before.

    Tune gives every trial's actor a runtime environment of its own (``TUNE_TRIAL_ENV``, and AWS
    credentials where the driver has them), and Ray never hands an actor with its own runtime
    environment a worker it started idle: every worker's first trial waited for a new process.
    The local workers already inherit those variables (``worker_preload``), so Tune passes none
    (checked by ``tests/tuning/test_sweep.py``)."""
    try:
        from ray.tune.execution import class_cache
    except ImportError:
        return False
    defaults = getattr(class_cache, "DEFAULT_ENV_VARS", None)
    if not isinstance(defaults, dict) or not hasattr(class_cache, "ENV_VARS_TO_PROPAGATE") or \
            any(TUNE_TRIAL_ENV.get(k) != v for k, v in defaults.items()):
        return False
    defaults.clear()
    class_cache.ENV_VARS_TO_PROPAGATE = frozenset()  # inherited, not propagated
    return True


# ---------------------------------------------------------------------------------------------
# MPS


class MPSDaemon:
    """CUDA MPS control daemon for the sweep's lifetime, with private pipe and log folders."""

    def __init__(self, root: Path):
        self.root = root
        self.env = {"CUDA_MPS_PIPE_DIRECTORY": str(root / "pipe"),
                    "CUDA_MPS_LOG_DIRECTORY": str(root / "log")}
        self.started = False

    @staticmethod
    def available() -> bool:
        return shutil.which("nvidia-cuda-mps-control") is not None

    def start(self) -> bool:
        for d in self.env.values():
            Path(d).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        proc = subprocess.run(["nvidia-cuda-mps-control", "-d"], env=env, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            log.warning("could not start CUDA MPS: %s", proc.stderr.strip() or proc.returncode)
            return False
        os.environ.update(self.env)  # Ray workers inherit it and connect to this daemon
        self.started = True
        return True

    def stop(self) -> None:
        if not self.started:
            return
        subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", text=True,
                       env={**os.environ, **self.env}, capture_output=True)
        self.started = False


# ---------------------------------------------------------------------------------------------
# Driver


def _setup_logging(exp_dir: Path) -> None:
    logger = logging.getLogger("tuning")
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    for h in (logging.StreamHandler(sys.stderr), logging.FileHandler(exp_dir / "sweep.log")):
        h.setFormatter(fmt)
        logger.addHandler(h)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.dashboard and not _dashboard_available():
        return _fail("--dashboard needs Ray's dashboard dependencies: "
                     "pip install -e \".[dashboard]\"")
    from tuning.trial_store import TrialStore, is_uri, join_uri

    remote = is_uri(args.storage_path)
    # A URI holds the trials; the ledger (SQLite study, trials.csv, log) needs a local disk.
    storage = Path("runs/sweeps" if remote else args.storage_path).expanduser().resolve()
    try:
        if args.resume is not None:
            exp_dir = args.resume.expanduser().resolve()
            spec_path = exp_dir / SPEC_FILE
            if not spec_path.is_file():
                return _fail(f"{exp_dir}: not a sweep directory (no {SPEC_FILE})")
            spec = load_yaml(spec_path)
            if args.space is not None:
                new = _spec_from_args(args)
                if new["space"] != spec["space"] or new["base"] != spec["base"]:
                    changed = sorted(k for k in set(new["space"]) | set(spec["space"])
                                     if new["space"].get(k) != spec["space"].get(k))
                    if new["base"] != spec["base"]:
                        changed.append("base config")
                    return _fail(f"{args.space}: differs from the space {exp_dir.name} started "
                                 f"with ({', '.join(changed)}); resume without --space, or "
                                 "start a new sweep")
            name = exp_dir.name
            space = _space_of(spec, str(spec_path))
        else:
            if args.space is None:
                return _fail("--space is required (or --resume DIR)")
            spec = _spec_from_args(args)
            space = _space_of(spec, str(args.space))
            name = args.name if args.name is not None else \
                f"{args.space.stem}-{datetime.now():%Y%m%d-%H%M%S}"
            if not _valid_name(name):
                return _fail(f"--name: use 1-100 letters, digits, '.', '_' or '-', not starting "
                             f"with '.'; got {name!r}")
            exp_dir = storage / name
            if (exp_dir / SPEC_FILE).exists():
                return _fail(f"{exp_dir} already holds a sweep; continue it with --resume "
                             f"{exp_dir}, or choose another --name")
            spec["trial_storage"] = join_uri(args.storage_path, name, "tune") if remote else None
        base_cfg = config_from_dict(spec["base"], f"{spec['space']['base_config']}")
        _check_params_fit_config(space, spec["base"])
        data = load_data(base_cfg.data, base_cfg.task)
        _check_model(space, spec, data)
        from tuning.preflight import preflight

        checked = preflight(space, spec["base"], len(data.train), spec["space"]["base_config"])
    except ConfigError as exc:
        return _fail(str(exc))
    except DataError as exc:
        return _fail(f"{spec['space']['base_config']}: {exc}")

    if args.resume is None:
        if remote:
            try:
                TrialStore(spec["trial_storage"]).check_writable()
            except (OSError, ValueError) as exc:
                return _fail(f"--storage-path: cannot write to {spec['trial_storage']}: {exc}")
        try:
            exp_dir.mkdir(parents=True, exist_ok=True)
            probe = exp_dir / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            return _fail(f"--storage-path: cannot write to {exp_dir}: {exc.strerror}")
        atomic_write_text(exp_dir / SPEC_FILE, yaml.safe_dump(spec, sort_keys=False))
    holder = running_pid(exp_dir)
    if holder is not None:
        return _fail(f"{exp_dir}: the sweep is running (driver pid {holder}); stop it first")
    _setup_logging(exp_dir)
    for level, line in checked:
        getattr(log, level)("%s%s", "warning: " if level == "warning" else "", line)
    lock = exp_dir / LOCK_FILE
    atomic_write_text(lock, f"{os.getpid()} {socket.gethostname()}\n")
    try:
        return _run(args, spec, space, exp_dir, name, data)
    except KeyboardInterrupt:
        # A second Ctrl-C, or one outside Tune's own handler: the study and disk are consistent
        # at every point (a resume reconciles them), so stopping here loses no finished work.
        return _interrupted(exp_dir, None)
    finally:
        lock.unlink(missing_ok=True)


def running_pid(exp_dir: Path) -> int | None:
    """The pid of a live driver of this sweep on this host, or None (a stale lock is ignored)."""
    try:
        pid_text, host = (exp_dir / LOCK_FILE).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if host != socket.gethostname() or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _interrupted(exp_dir: Path, counts: tuple[int, int] | None) -> int:
    if counts is not None:
        log.info("sweep interrupted: %d of %d trials finished", *counts)
    print(f"\nresume with: python -m tuning.sweep --resume {exp_dir}", file=sys.stderr,
          flush=True)
    return EXIT_INTERRUPTED


def _run(args, spec: dict, space: SearchSpace, exp_dir: Path, name: str, data) -> int:
    study, storage = _open_study(exp_dir, name, space)
    try:
        code = _sweep(args, spec, space, exp_dir, name, data, study)
    finally:
        storage.close()
    if code == EXIT_INTERRUPTED:
        _publish(exp_dir)
        return _interrupted(exp_dir, (_finished(study), space.num_samples))
    if code == EXIT_OK:
        _export(exp_dir, space)
        _publish(exp_dir)
    return code


def _export(exp_dir: Path, space: SearchSpace) -> None:
    from tuning.export import export_best

    try:
        best = export_best(exp_dir, exp_dir / "best_config.yaml", allow_partial=True)
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
    log.info("config: %s  (train it: python -m core.train --config %s)",
             exp_dir / "best_config.yaml", exp_dir / "best_config.yaml")


LEDGER = (SPEC_FILE, "study.db", "trials.csv", "best_config.yaml", "sweep.log")


def _publish(exp_dir: Path) -> None:
    """With a URI store, copies the ledger next to the trials (the local copy stays the one a
    resume, the report and export read)."""
    store = trial_store(exp_dir)
    if not store.remote:
        return
    files = [exp_dir / f for f in LEDGER if (exp_dir / f).is_file()]
    try:
        store.upload(files)
    except OSError as exc:
        log.warning("could not copy the ledger to %s: %s", store.root, exc)
        return
    log.info("ledger copied next to the trials: %s", ", ".join(f.name for f in files))


def _finished(study) -> int:
    return sum(t.state.is_finished() and "warm_start_from" not in t.user_attrs
               for t in study.get_trials(deepcopy=False))


def _sweep(args, spec: dict, space: SearchSpace, exp_dir: Path, name: str, data, study) -> int:
    """Runs what the study still needs, then writes trials.csv; the exit code."""
    if args.warm_start is not None and args.resume is None:
        added = _warm_start(study, args.warm_start.resolve(), space)
        log.info("warm start: %d trials from %s", added, args.warm_start)
    continuing = reconcile(study, exp_dir, space) if args.resume is not None else []
    finished = _finished(study)
    to_run = len(continuing) + max(space.num_samples - finished - len(continuing), 0)
    log.info("sweep %s: %d of %d trials finished, %d to continue, %d to run in all",
             name, finished, space.num_samples, len(continuing), to_run)
    code = EXIT_OK
    if to_run > 0:
        code = _tune(args, spec, space, exp_dir, study, continuing, to_run, data)
        _write_events(study, exp_dir)
    write_trials_csv(study, exp_dir, space)
    if code == EXIT_OK and _finished(study) < space.num_samples and args.time_budget is None:
        code = EXIT_INTERRUPTED
    return code


def _write_events(study, exp_dir: Path) -> None:
    """Every epoch of every trial into ``tensorboard/<trial>/`` (tuning.tensorboard)."""
    from tuning.searcher import trial_key
    from tuning.tensorboard import write_trial_events

    try:
        for t in study.get_trials(deepcopy=False):
            key = trial_key(t.number)
            rows = _results(exp_dir, key)
            if rows:  # warm-started trials have no epochs here
                write_trial_events(exp_dir / "tensorboard", key, rows)
    except (OSError, ImportError) as exc:
        log.warning("could not write the TensorBoard files: %s", exc)
        return
    log.info("TensorBoard, every epoch of every trial: tensorboard --logdir %s",
             exp_dir / "tensorboard")


def _tune(args, spec, space: SearchSpace, exp_dir: Path, study, continuing, to_run, data) -> int:
    import ray

    store = trial_store(exp_dir)
    run_index = len(store.runs())
    # Without --address the sweep starts its own Ray instance ("local"), never joining a cluster
    # that happens to run on the machine; --address auto joins one on purpose.
    init_kwargs: dict[str, Any] = {"address": args.address or "local",
                                   "include_dashboard": args.dashboard,
                                   "logging_level": logging.WARNING}
    if args.dashboard:
        init_kwargs.update(dashboard_host="127.0.0.1", dashboard_port=args.dashboard_port)
    if args.smoke:
        init_kwargs["num_cpus"] = max(2, os.cpu_count() or 2) if args.address is None else None
    if args.address is None:
        pycache = worker_bytecode_cache(os.environ)
        if pycache:
            log.info("PYTHONDONTWRITEBYTECODE is set: Ray workers keep their bytecode in %s "
                     "instead (a new worker then starts in a third of the time)", pycache)
        init_kwargs["_system_config"] = worker_preload(os.environ)
    mps = None
    k = space.trials_per_gpu
    try:
        import torch

        local_gpus = torch.cuda.device_count()
    except Exception:
        local_gpus = 0
    if k > 1 and args.mps != "off" and local_gpus and args.address is None:
        if MPSDaemon.available():
            mps = MPSDaemon(exp_dir / "mps")
            if mps.start():
                log.info("CUDA MPS started for %d trials per GPU", k)
            elif args.mps == "on":
                return _fail("--mps on: the MPS control daemon could not be started")
        elif args.mps == "on":
            return _fail("--mps on: nvidia-cuda-mps-control is not available")
        else:
            log.info("MPS unavailable: %d trials per GPU will time-slice", k)
    try:
        ctx = ray.init(**{k2: v for k2, v in init_kwargs.items() if v is not None})
        # Tune is imported only now (seconds where the driver may not write bytecode): the idle
        # workers Ray has just started import their own copy meanwhile.
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler

        from tuning.searcher import StudySearcher, TrialErrors
        from tuning.trainable import SharedData, asha_rungs, train_trial

        if args.address is None and not share_idle_workers():
            log.info("Tune's trial environment is not as expected: trials start new workers "
                     "instead of preloaded idle ones")
        if args.dashboard:
            log.info("Ray dashboard: http://%s", ctx.dashboard_url)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = resources.get("CPU", 1)
        if gpus:
            per_trial = {"cpu": space.cpus_per_trial, "gpu": 1.0 / k}
            concurrency = gpus * k
        else:
            per_trial = {"cpu": space.cpus_per_trial}
            concurrency = max(1, int(cpus // space.cpus_per_trial))
        log.info("resources: %d GPU(s), %g CPU(s); %s per trial; up to %d trials at once", gpus,
                 cpus, per_trial, concurrency)
        trainable = tune.with_resources(
            tune.with_parameters(train_trial, base=spec["base"], data=SharedData.put(data),
                                 max_epochs=space.max_epochs, metric=space.metric,
                                 cpus_per_trial=space.cpus_per_trial,
                                 checkpoint_interval_s=space.checkpoint_interval_s,
                                 rungs=asha_rungs(space.grace_period, space.reduction_factor,
                                                  space.max_epochs)), per_trial)
        searcher = StudySearcher(
            study, compile_space(space.params), metric=space.metric, mode=space.mode,
            max_epochs=space.max_epochs, continuing=continuing,
            error_reason=(errors := TrialErrors()).reason,
            on_change=_throttled(lambda: write_trials_csv(study, exp_dir, space),
                                 CSV_REFRESH_S))
        scheduler = ASHAScheduler(time_attr="epoch", max_t=space.max_epochs,
                                  grace_period=space.grace_period,
                                  reduction_factor=space.reduction_factor)
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                metric=space.metric, mode=space.mode, search_alg=searcher, scheduler=scheduler,
                num_samples=to_run, max_concurrent_trials=concurrency, reuse_actors=True,
                time_budget_s=args.time_budget,
                trial_name_creator=lambda t: t.config["trial_key"],
                trial_dirname_creator=lambda t: t.config["trial_key"]),
            run_config=tune.RunConfig(
                name=f"run-{run_index}", storage_path=store.root,
                failure_config=tune.FailureConfig(max_failures=spec["max_failures"]),
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=2, checkpoint_score_attribute=space.metric,
                    checkpoint_score_order=space.mode),
                verbose=1, callbacks=[errors]))
        t0, cpu0 = time.perf_counter(), time.process_time()
        tuner.fit()
        took = time.perf_counter() - t0
        # The driver's CPU (all its threads) over Tune's wall time: near 100% means the driver,
        # not the trials, limits the sweep.
        log.info("tune run-%d took %.1f s; driver CPU %.0f%%", run_index, took,
                 100 * (time.process_time() - cpu0) / max(took, 1e-9))
        if args.time_budget is not None:
            closed = searcher.close_unfinished("time budget")
            if closed:
                log.info("time budget of %g s reached: %d unfinished trial(s) closed",
                         args.time_budget, closed)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        ray.shutdown()
        if mps is not None:
            mps.stop()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
