"""Every use of Optuna's private API, in one place.

The project depends on ``optuna<6``; the names below are not public in Optuna, and a release may
change them. ``tests/tuning/study/test_optuna_internals.py`` exercises each against the installed
Optuna and fails, naming the one that moved, if a release changes it. Nothing else in the
project touches an Optuna name that starts with ``_``.

- ``Study._storage``, ``Study._study_id``: a live ``Trial`` by number (Optuna has no public
  "trial by number" for a running trial); the storage a second study in the same database opens.
- the ``fixed_params`` system attribute: what ``Study.enqueue_trial`` uses to make a trial's
  ``suggest_*`` return given values; set here on a trial that already exists.
- ``FrozenStudy._study_id``, ``FrozenTrial._trial_id`` and ``optuna.study._frozen.FrozenStudy``:
  the storage ids a ``BaseStorage`` implementation (``tuning.study.MirroredStorage``) maps.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial

__all__ = ["FrozenStudy", "fix_params", "storage_of", "storage_study_id", "storage_trial_id",
           "trial_by_number"]


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage ``study`` reads and writes (``Study._storage``): a second study (the
    confirmation phase) is opened on the same storage."""
    return study._storage


def trial_by_number(study: optuna.Study, number: int) -> optuna.trial.Trial:
    """A live handle on ``study``'s trial ``number`` (one that is still running), through which
    it can report and be told. Raises ``KeyError`` for a trial the study does not have."""
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.trial.Trial(study, trial_id)


def fix_params(study: optuna.Study, number: int, params: dict[str, Any]) -> None:
    """Makes the running trial ``number`` return ``params`` from its ``suggest_*`` calls (by
    name), as an enqueued trial does. A ``Trial`` reads them when it is made: take a new handle
    (``trial_by_number``) afterwards."""
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    study._storage.set_trial_system_attr(trial_id, "fixed_params", params)


def storage_study_id(study: FrozenStudy) -> int:
    """The storage's id of a study that ``BaseStorage.get_all_studies`` returned."""
    return study._study_id


def storage_trial_id(trial: FrozenTrial) -> int:
    """The storage's id of a trial that ``BaseStorage.get_all_trials`` returned."""
    return trial._trial_id
