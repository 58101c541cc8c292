"""The sweep driven from its options to its files: ``drive(SweepOptions)``.

The options, typed (``_options``); everything read and checked before anything is written
(``_setup``, with the pre-flight of ``_preflight``, the sizes ``_sizing`` derives from
the data and the checkpoint metric ``_metric`` aligns with the sweep's); the search and the
confirmation phase (``_confirm_phase``) driven, the best config exported and the ledger kept
(``_drive``).
"""

from tuning.driver._confirm_phase import confirm_search, run_confirmation
from tuning.driver._drive import CSV_REFRESH_S, drive, resume_command
from tuning.driver._options import SweepOptions
from tuning.driver._preflight import check_values, preflight, with_conditions
from tuning.driver._setup import (
    PreparedSweep,
    check_model_fits,
    check_params_fit_config,
    create,
    new_spec,
    prepare,
)
from tuning.driver._sizing import TARGET_STEPS, Sizes, derive_sizes, size_to_data

__all__ = ["CSV_REFRESH_S", "PreparedSweep", "Sizes", "SweepOptions", "TARGET_STEPS",
           "check_model_fits", "derive_sizes",
           "check_params_fit_config", "check_values", "confirm_search", "create", "drive",
           "new_spec", "preflight", "prepare", "resume_command", "run_confirmation",
           "size_to_data", "with_conditions"]
