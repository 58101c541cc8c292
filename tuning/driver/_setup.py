"""What a sweep reads and checks before anything is written, and the directory it then makes.

``prepare`` turns the options (``tuning.driver._options``) into a ``PreparedSweep``: a new sweep's
frozen spec (``new_spec``: the space file parsed once, the options' changes to it checked as
edits, and the resolved base config) or a resumed one's from disk, every parameter value checked
against the config (``check_params_fit_config``), the data loaded, the model probed
(``check_model_fits``), the pre-flight (``tuning.driver._preflight``) and the warm-start trials
read. Bad input raises (``ConfigError``, ``SweepError``) before any file exists; ``create`` then
makes a new sweep's directory and writes its spec.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core.config import (
    ConfigError,
    config_from_dict,
    config_to_dict,
    is_config_key,
    load_config,
    override_keys,
    override_source,
)
from core.data import DataError, DataSplits, load_data
from core.files import check_name
from core.selection import imbalance_warning
from core.train import SMOKE_OVERRIDES
from tuning.driver._metric import alignment_line, checkpoint_metric_overrides
from tuning.driver._options import SweepOptions
from tuning.driver._preflight import check_values, preflight, with_conditions
from tuning.driver._sizing import size_to_data
from tuning.execution import spec_changes
from tuning.record import (
    SPEC_FILE,
    SweepError,
    TrialStore,
    is_sweep_dir,
    is_uri,
    join_uri,
    read_spec,
    space_of,
    write_spec,
)
from tuning.space import (
    SearchSpace,
    edited,
    load_space,
    scaled_for_cpu,
    short_definition,
    trial_config,
)
from tuning.study import load_study, warm_start_trials

__all__ = ["PreparedSweep", "check_model_fits", "check_params_fit_config", "create", "new_spec",
           "prepare"]


def new_spec(opts: SweepOptions) -> dict:
    """The frozen spec of a new sweep: the space file as read with the options' changes (flags,
    ``cpu:`` section, ``--smoke``, pins, sizes derived from the data), its path, the resolved
    base config, ``max_failures`` and the creation time.

    Raises:
        ConfigError: the space or the base config is invalid (names the file and key).
        DataError: a space sized to its data (``size_to_data``) whose data cannot be read.
    """
    return _new_sweep(opts)[0]


def _new_sweep(opts: SweepOptions) -> tuple[dict, SearchSpace]:
    """``new_spec`` and the space it freezes: the file parsed once, the changes checked as
    edits of it (``tuning.space.edited``)."""
    # The space is read for the base config after --set, with --metric: the metric must be one
    # that task produces (core.tasks.metric_problem, the one rule).
    space = load_space(opts.space, opts.overrides, opts.metric)
    # The changes are made in the file's form, the form sweep.yaml freezes.
    raw = copy.deepcopy(space.raw)
    scaled: list[str] = []
    cpu_overrides: list[str] = []
    smoke_notes: list[str] = []
    if "cpu" in raw:
        # Without a GPU the space's cpu: section applies (the default sweep: about 5 minutes on
        # 2 cores instead of an hour); a cluster (--address) may have GPUs: full size.
        if not (opts.smoke or opts.full_size or opts.ray.address is not None or _has_gpu()):
            raw, cpu_overrides, scaled = scaled_for_cpu(raw, _set_elsewhere(opts, space, raw))
        else:
            raw.pop("cpu")
    if opts.smoke:
        # Checkpoints every epoch: the fault tests kill and resume trials at exact epochs.
        raw.update(num_samples=8, max_epochs=4, checkpoint_interval_s=0,
                   scheduler={"grace_period": 2, "reduction_factor": 2},
                   resources={"trials_per_gpu": 1, "cpus_per_trial": 1})
        raw["sampler"] = {**(raw.get("sampler") or {}), "n_startup_trials": 4}
        confirm = raw.get("confirm") or {}
        if confirm.get("top_k") and opts.confirm is None:
            # The smoke sweep confirms only when --confirm asks; the frozen spec keeps the
            # section, switched off, and the start of the sweep says so.
            raw["confirm"] = {**confirm, "top_k": 0}
            smoke_notes.append(f"--smoke: the space's confirm: (top_k {confirm['top_k']}, seeds "
                               f"{confirm.get('seeds', 'default')}) is off for this smoke "
                               f"sweep; --confirm K,S confirms it")
    if opts.confirm is not None:
        raw["confirm"] = {**(raw.get("confirm") or {}), "top_k": opts.confirm[0],
                          "seeds": opts.confirm[1]}
    for flag, key in ((opts.num_samples, "num_samples"), (opts.max_epochs, "max_epochs")):
        if flag is not None:
            raw[key] = flag
    if opts.trials_per_gpu is not None:
        raw["resources"] = {**(raw.get("resources") or {}), "trials_per_gpu": opts.trials_per_gpu}
    before = (SMOKE_OVERRIDES if opts.smoke else []) + cpu_overrides
    # The sweep's metric replaces the base config's checkpoint metric before the config is
    # checked: a file's val_accuracy is no error for a sweep made regression by --set.
    aligned = checkpoint_metric_overrides(space, raw, opts.overrides)
    base_cfg = load_config(space.base_config, before + aligned + list(opts.overrides))
    raw["base_config"] = str(space.base_config)
    base = config_to_dict(base_cfg)
    pinned = _pin_set_params(raw, base, opts.overrides)
    metric_line = alignment_line(space, raw, base, opts.overrides, before)
    spec = {"space": raw, "space_file": str(opts.space.resolve()),
            "base": base, "overrides": list(opts.overrides),
            "max_failures": opts.max_failures, "scaled_for_cpu": scaled,
            "pinned_by_set": pinned, "metric_alignment": metric_line,
            "smoke_notes": smoke_notes,
            "created": datetime.now().isoformat(timespec="seconds")}
    if space.settings.size_to_data and not opts.smoke:
        spec["sized_to_data"] = size_to_data(spec, opts.overrides, opts.max_epochs)
    return spec, edited(space, raw)


def _pin_set_params(raw: dict, base: dict, overrides: list[str]) -> list[str]:
    """A ``--set`` of a key the space has in ``params`` would be overridden by every trial's
    value: the parameter is made fixed at the ``--set`` value instead (its ``when`` kept, so
    conditions on it still hold), in ``raw``. Returns one line per parameter pinned."""
    lines = []
    params = raw.get("params") or {}
    for key in override_keys(overrides):
        if key not in params:
            continue
        value = functools.reduce(lambda d, part: d[part], key.split("."), base)
        old = params[key]
        when = old.get("when") if isinstance(old, dict) else None
        params[key] = {"type": "fixed", "value": value, **({"when": when} if when else {})}
        kind = old.get("type", "fixed") if isinstance(old, dict) else "fixed"
        lines.append(f"--set {key}={value} pins params.{key} (was {kind} "
                     f"{short_definition(old)}): every trial uses this value")
    return lines


def _set_elsewhere(opts: SweepOptions, space: SearchSpace, raw: dict) -> set[str]:
    """What a ``cpu:`` section must leave alone (``scaled_for_cpu``'s ``keep``): the top-level
    keys the flags set, the config keys of ``--set`` and the parameters they pin, and
    ``data.synthetic.*`` for data that are not synthetic (the scale-down would be a no-op said
    to be a change)."""
    keep = {key for flag, key in ((opts.num_samples, "num_samples"),
                                  (opts.max_epochs, "max_epochs")) if flag is not None}
    set_keys = set(override_keys(opts.overrides))
    keep |= set_keys | {f"params.{key}" for key in set_keys}  # a --set pins a parameter
    if load_config(space.base_config, list(opts.overrides)).data.source != "synthetic":
        keep |= {key for key in (raw["cpu"].get("set") or {}) if key.startswith("data.synthetic.")}
    return keep


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def _where_set(keys: list[str], chosen: dict, space: SearchSpace) -> str:
    """Which file sets each config key: the space's params or its base config."""
    return "; ".join(f"{k} from {'params in ' + space.source if k in chosen else space.base_config}"
                     for k in keys)


def check_params_fit_config(space: SearchSpace, base: dict) -> None:
    """Every bound and choice of every parameter must give a valid config, checked together
    with the values its conditions bring (``_with_conditions``): a value that only occurs with
    others is never checked alone against the base config.

    Raises:
        ConfigError: naming ``params.<key>``, the value that breaks the config, and which file
            sets each key the reason names.
    """
    problems = []
    for p in space.params:
        for v in check_values(p):
            chosen = with_conditions(space, p.name, v)
            if chosen is None:
                continue  # its conditions exclude it: never sampled
            try:
                trial_config(base, chosen, space.max_epochs, "<check>")
            except ConfigError as exc:
                msgs = "; ".join(f"{k}: {m}" for k, m in exc.problems)
                keys = list(dict.fromkeys([p.name, *(k for k, _ in exc.problems),
                                           *re.findall(r"\b[a-z_]+\.[a-z_.]*[a-z_]\b", msgs)]))
                keys = [k for k in keys if is_config_key(k)]
                problems.append((f"params.{p.name}", f"value {v!r} gives an invalid config: "
                                                     f"{msgs} ({_where_set(keys, chosen, space)})"))
                break
    if problems:
        raise ConfigError(space.source, problems)


def check_model_fits(space: SearchSpace, spec: dict, data: DataSplits) -> None:
    """Each model the space can choose builds and answers a probe batch, with the model
    parameters its conditions allow it set (each to its first value); a user model is tuned
    through ``model.kwargs`` only.

    Raises:
        ConfigError: a user model tuned outside ``model.kwargs`` (``params.<key>`` named), or
            a model does not build or answer (``core.models.check_model``).
    """
    from core.models import check_model, is_builtin

    by_name = {p.name: p for p in space.params}
    names = check_values(by_name["model.name"]) if "model.name" in by_name else [None]
    for name in names:
        chosen = {} if name is None else with_conditions(space, "model.name", name)
        if chosen is None:
            continue
        for p in space.params:  # the other model parameters this model is sampled with
            if not p.name.startswith("model.") or p.name in chosen:
                continue
            more = with_conditions(space, p.name, check_values(p)[0])
            if more is not None and all(chosen.get(k, v) == v for k, v in more.items()):
                chosen.update(more)
        tuned = {k: v for k, v in chosen.items() if k.startswith("model.")}
        cfg = trial_config(spec["base"], chosen, space.max_epochs, space.source)
        source = f"{spec['space']['base_config']} with {space.source}" if tuned else \
            spec["space"]["base_config"]
        stray = [k for k in tuned if k not in ("model.name", "model.plugins")
                 and not k.startswith("model.kwargs.")]
        if stray and not is_builtin(cfg.model):
            raise ConfigError(space.source, [(f"params.{k}", f"{cfg.model.name} is a user "
                                              "model: it gets model.kwargs only; tune "
                                              "model.kwargs.<name>, or give this key a "
                                              "'when:' on model.name") for k in stray])
        check_model(cfg.model, data.num_features, data.num_outputs,
                    seq_len=int(data.train.x.shape[1]), source=source)


@dataclass
class PreparedSweep:
    """A sweep read and checked, ready to run: its spec, space, directory, study name, data,
    pre-flight lines and warm-start trials (nothing of it written yet)."""

    spec: dict
    space: SearchSpace
    exp_dir: Path
    name: str
    data: DataSplits
    checks: list[tuple[str, str]] = field(default_factory=list)  # pre-flight (level, line)
    warm: list = field(default_factory=list)  # earlier trials to seed the study with
    warm_skipped: dict[str, int] = field(default_factory=dict)  # reason -> trials skipped
    extended_from: int | None = None  # --resume --num-samples: the sweep's earlier size


def prepare(opts: SweepOptions) -> PreparedSweep:
    """Reads and checks everything ``opts`` name before anything is written (the sweep's
    directory is made by ``create``; a resumed one has its spec read from disk).

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
                fresh = new_spec(dataclasses.replace(opts, num_samples=None))
                changed = spec_changes(spec, fresh)
                if changed:
                    raise SweepError(f"{opts.space}: differs from the space {exp_dir.name} "
                                     f"started with ({', '.join(changed)}); resume without "
                                     "--space, or start a new sweep")
            name = _study_name(exp_dir)
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
            spec, space = _new_sweep(opts)
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
        check_model_fits(space, spec, data)
        # cross-validated: a fold model trains on train less its validation fold
        n_fit = len(data.train) - max(len(va) for _, va in data.folds) if data.folds \
            else len(data.train)
        checks = [("info", line) for line in spec.get("sized_to_data") or []]
        checks += preflight(space, spec["base"], n_fit, spec["space"]["base_config"],
                            spec.get("overrides"))
        checks = [("warning", w) for w in data.extras.get("warnings", [])] + checks
        # Every trial would warn in sweep.log only; the sweep's metric decides, said once here.
        imbalance = imbalance_warning(base_cfg.task.type, data.train.y, data.class_names,
                                      space.metric)
        if imbalance:
            checks.append(("warning", f"metric: {imbalance}"))
        warm, skipped = [], {}
        if opts.warm_start is not None and opts.resume is None:
            try:
                warm, skipped = warm_start_trials(opts.warm_start.expanduser().resolve(), space)
            except ValueError as exc:
                raise SweepError(f"--warm-start: {exc}") from None
    except DataError as exc:
        problems = [(exc.key, exc.message)]
        raise ConfigError(override_source(spec["space"]["base_config"], problems,
                                          spec.get("overrides")), problems) from exc
    return PreparedSweep(spec, space, exp_dir, name, data, checks, warm, skipped, extended_from)


def _study_name(exp_dir: Path) -> str:
    """The sweep's identity: the name of the study in its study.db, which stays what it was when
    the folder is copied or renamed (the folder's name only for a sweep without a study yet)."""
    try:
        return load_study(exp_dir).study_name
    except ValueError:
        return exp_dir.name


def _trials_started(exp_dir: Path) -> int:
    """The sweep's own trials in its study (any state), 0 without a study."""
    try:
        study = load_study(exp_dir)
    except ValueError:
        return 0
    return sum("warm_start_from" not in t.user_attrs for t in study.get_trials(deepcopy=False))


def create(sweep: PreparedSweep) -> None:
    """Makes a new sweep's directory (and checks an object store can be written) and freezes
    its spec.

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
