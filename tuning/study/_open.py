"""The sweep's Optuna study: opening it (driver) or loading it (readers), its sampler, warm start.

The study in ``<experiment>/study.db`` is the sweep's ledger: one Optuna trial per sweep trial,
an intermediate value per epoch, COMPLETE / PRUNED / FAIL as ``tuning.execution._searcher`` records
them. The driver works on a copy in memory (``tuning.study.MirroredStorage``); every other reader
(report, export, optuna-dashboard) opens the SQLite file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuning.record import STUDY_FILE
from tuning.space import SearchSpace, distributions, fixed_params, misfits
from tuning.study._optuna_internals import storage_of
from tuning.study._sampler import FailureAwareTPESampler
from tuning.study._storage import MirroredStorage, sqlite_storage

__all__ = ["CONFIRM_SUFFIX", "count_finished", "load_confirm_study", "load_study", "make_sampler",
           "open_confirm_study", "open_study", "warm_start", "warm_start_trials"]

# The confirmation phase (tuning.confirm) is a second study in the same study.db, named
# "<sweep name>-confirm": the search's sampler never sees its trials.
CONFIRM_SUFFIX = "-confirm"


def _direction(space: SearchSpace) -> str:
    return "maximize" if space.mode == "max" else "minimize"


def _search_name(names: list[str]) -> str | None:
    """The search study among a study.db's study names: the only one, or the one whose
    confirmation study is the other."""
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        for n in names:
            if n + CONFIRM_SUFFIX in names:
                return n
    return None


def load_study(exp_dir: Path) -> optuna.Study:
    """The sweep's (search) study, whatever the directory is called now, read from ``study.db``.

    Never creates a database: opening an SQLite URL creates and migrates one, which must be the
    driver's job alone.

    Raises:
        ValueError: there is no study.db yet, or it holds other than one search study (and at
            most its confirmation study).
    """
    exp_dir = Path(exp_dir)
    if not (exp_dir / STUDY_FILE).is_file():
        raise ValueError(f"{exp_dir}: no {STUDY_FILE} (yet)")
    storage = sqlite_storage(exp_dir / STUDY_FILE)
    names = optuna.get_all_study_names(storage)
    name = _search_name(names)
    if name is None:
        raise ValueError(f"{exp_dir / STUDY_FILE}: expected one study (and its confirmation), "
                         f"found {len(names)}")
    return optuna.load_study(study_name=name, storage=storage)


def load_confirm_study(exp_dir: Path) -> optuna.Study | None:
    """The sweep's confirmation study from ``study.db``, or None when it has none."""
    search = load_study(exp_dir)
    storage = storage_of(search)
    name = search.study_name + CONFIRM_SUFFIX
    if name not in optuna.get_all_study_names(storage):
        return None
    return optuna.load_study(study_name=name, storage=storage)


def open_confirm_study(search: optuna.Study) -> optuna.Study:
    """The driver's confirmation study beside ``search`` (same storage), created if missing.
    Its trials are made by ``tuning.confirm`` with their parameters fixed, so its sampler only
    satisfies Optuna's API."""
    return optuna.create_study(storage=storage_of(search),
                               study_name=search.study_name + CONFIRM_SUFFIX,
                               direction=search.direction,
                               sampler=optuna.samplers.RandomSampler(seed=0),
                               load_if_exists=True)


def make_sampler(space: SearchSpace, offset: int = 0) -> optuna.samplers.BaseSampler:
    """The space's sampler (``sampler.name``: tpe, random or qmc). ``offset`` (trials already in
    the study) shifts the seed, so that a resumed sweep does not replay the random draws of its
    first start and repeat configs."""
    seed = space.sampler_seed + offset
    if space.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if space.sampler == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    # constant_liar: trials running in parallel are treated as pessimistic results so that
    # concurrent suggestions spread out instead of piling onto one region.
    # Failure-aware: trials FAIL for their parameters (invalid config, non-finite loss) count
    # as the worst results instead of being ignored (tuning.study._sampler).
    # multivariate/group/constant_liar are Optuna's ExperimentalWarning features, chosen on
    # purpose (sampler.name in docs/config-reference.md): the warning would be printed by every
    # sweep.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return FailureAwareTPESampler(seed=seed, n_startup_trials=space.n_startup_trials,
                                      multivariate=True, group=True, constant_liar=True)


def open_study(exp_dir: Path, name: str, space: SearchSpace) -> tuple[optuna.Study,
                                                                       MirroredStorage]:
    """The driver's study ``name`` in ``exp_dir/study.db``, created if missing, read from a copy
    in memory; and that storage (``close`` it when the sweep ends: it flushes the writes)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = Path(exp_dir) / STUDY_FILE
    if not db.exists():
        # Build the schema in a private file, then rename it into place: a reader that opens
        # study.db (report, export, optuna-dashboard) never meets a half-created database.
        tmp = db.with_name(f".{STUDY_FILE}.tmp")
        tmp.unlink(missing_ok=True)
        storage = optuna.storages.RDBStorage(f"sqlite:///{tmp}")
        optuna.create_study(storage=storage, study_name=name, direction=_direction(space))
        storage.engine.dispose()
        os.replace(tmp, db)
    storage = MirroredStorage(sqlite_storage(db))
    study = optuna.create_study(storage=storage, study_name=name, direction=_direction(space),
                                sampler=make_sampler(space), load_if_exists=True)
    existing = len(study.get_trials(deepcopy=False))
    if existing:
        study.sampler = make_sampler(space, offset=existing)
    return study, storage


def count_finished(study: optuna.Study) -> int:
    """The sweep's own finished trials (warm-start copies not counted)."""
    return sum(t.state.is_finished() and "warm_start_from" not in t.user_attrs
               for t in study.get_trials(deepcopy=False))


def warm_start_trials(source: Path, space: SearchSpace) -> tuple[list[FrozenTrial],
                                                                  dict[str, int]]:
    """The finished (COMPLETE or PRUNED) trials of the sweep in ``source`` that ``space`` could
    have drawn (their sampled values and those the earlier space fixed), re-described with this
    space's distributions (Optuna refuses a trial whose distribution differs from the study's:
    "CategoricalDistribution does not support dynamic value space"); and the skipped ones,
    counted by reason (``tuning.space.misfits``, or a value this space fixes otherwise).

    Raises:
        ValueError: ``source`` holds no readable study.
    """
    old = load_study(source)
    dists = distributions(space.params)
    fixed_now = fixed_params(space)
    fit, skipped = [], {}
    for t in old.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
        # What the trial trained with: its sampled values and the earlier space's fixed ones
        # (user attr "params"), so a value fixed there (or pinned by --set) is checked too.
        full = {**(t.user_attrs.get("params") or {}), **t.params}
        values = {k: v for k, v in full.items() if k in t.params or k in dists}
        reasons = misfits(values, space.params) + [
            f"{k}={full[k]!r}, where this space fixes {v!r}" for k, v in fixed_now.items()
            if k in full and full[k] != v]
        if reasons:
            skipped[reasons[0]] = skipped.get(reasons[0], 0) + 1
            continue
        fit.append(optuna.trial.create_trial(
            params=values, distributions={k: dists[k] for k in values},
            value=t.value if t.state == TrialState.COMPLETE else None,
            intermediate_values=t.intermediate_values, state=t.state,
            user_attrs={"warm_start_from": str(source)}))
    return fit, skipped


def warm_start(study: optuna.Study, trials: list[FrozenTrial]) -> int:
    """Adds ``warm_start_trials``'s trials to ``study``; returns how many."""
    study.add_trials(trials)
    return len(trials)
