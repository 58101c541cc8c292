"""The final model after a sweep's selection (docs/small-data.md): the chosen configuration
refit on every non-test sequence (``_refit``: pure functions on config dicts, no torch) and an
ensemble of the best trials chosen on their out-of-fold outputs (``_ensemble``).
"""

from tuning.final._ensemble import ENSEMBLE_ROUNDS, ensemble_threshold, export_ensemble
from tuning.final._refit import best_epoch_threshold, data_growth, refit_config, refit_epochs

__all__ = ["ENSEMBLE_ROUNDS", "best_epoch_threshold", "data_growth", "ensemble_threshold",
           "export_ensemble", "refit_config", "refit_epochs"]
