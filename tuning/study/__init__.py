"""The sweep's Optuna study: the ledger of its trials.

Its storage, a copy in memory written to SQLite by a thread (``_storage``); the TPE sampler that
learns from failed trials (``_sampler``); opening (the driver), loading (the readers) and warm
start (``_open``); every use of Optuna's private API (``_optuna_internals``). No Ray, no torch.
"""

from tuning.study._open import (
    CONFIRM_SUFFIX,
    count_finished,
    load_confirm_study,
    load_study,
    make_sampler,
    open_confirm_study,
    open_study,
    warm_start,
    warm_start_trials,
)
from tuning.study._optuna_internals import (
    FrozenStudy,
    fix_params,
    storage_of,
    storage_study_id,
    storage_trial_id,
    trial_by_number,
)
from tuning.study._sampler import (
    PARAMETER_FAILURES,
    FailureAwareTPESampler,
    error_reason,
    most_common_failure,
)
from tuning.study._storage import (
    MirroredStorage,
    StudyWriteError,
    network_filesystem,
    sqlite_storage,
)

__all__ = ["CONFIRM_SUFFIX", "FailureAwareTPESampler", "FrozenStudy", "MirroredStorage",
           "PARAMETER_FAILURES", "StudyWriteError", "count_finished", "error_reason", "fix_params",
           "load_confirm_study", "load_study", "make_sampler", "most_common_failure",
           "network_filesystem", "open_confirm_study", "open_study", "sqlite_storage",
           "storage_of", "storage_study_id", "storage_trial_id", "trial_by_number", "warm_start",
           "warm_start_trials"]
