"""The experiment record: a sweep's directory and the files it holds.

File names, the frozen spec and the lock (``_directory``); where trials live, a folder or an
object store (``_trial_store``); the one reader of trial results, trials.csv and the event files
(``_results``, ``_tensorboard``). Nothing here imports Optuna, Ray or torch.
"""

from tuning.record._directory import (
    BEST_CONFIG_FILE,
    CHECKPOINT_FILE,
    CONFIRMATION_CSV_FILE,
    CONFIRMATION_FILE,
    ENSEMBLE_CONFIG_FILE,
    FINAL_CONFIG_FILE,
    LEDGER,
    LOCK_FILE,
    LOG_FILE,
    PARAMS_FILE,
    RECOVERED_DIR,
    REPORT_DIR,
    RESULT_FILE,
    SPEC_FILE,
    STUDY_FILE,
    TENSORBOARD_DIR,
    TEST_METRICS_FILE,
    TRIALS_CSV_FILE,
    TUNE_DIR,
    SweepError,
    hold_lock,
    is_sweep_dir,
    publish_ledger,
    read_spec,
    running_pid,
    space_of,
    trial_key,
    trial_store,
    write_spec,
)
from tuning.record._results import (
    EARLIER_EPOCHS,
    STATUS,
    best_trial,
    checkpoint_test_metrics,
    finite,
    histories,
    latest_checkpoint,
    parse_results,
    reported_epoch,
    started_config,
    started_params,
    trial_best_epoch,
    trial_history,
    trial_rows,
    trials_csv_text,
    unbatch,
    write_events,
    write_recovered,
    write_trials_csv,
)
from tuning.record._tensorboard import (
    METRIC_PREFIXES,
    SCALARS,
    read_scalars,
    scalar_tags,
    write_trial_events,
)
from tuning.record._trial_store import TrialStore, is_uri, join_uri, local_file

__all__ = ["BEST_CONFIG_FILE", "CHECKPOINT_FILE", "CONFIRMATION_CSV_FILE", "CONFIRMATION_FILE",
           "EARLIER_EPOCHS", "ENSEMBLE_CONFIG_FILE", "FINAL_CONFIG_FILE", "LEDGER", "LOCK_FILE",
           "LOG_FILE", "METRIC_PREFIXES", "PARAMS_FILE", "RECOVERED_DIR", "REPORT_DIR",
           "RESULT_FILE", "SCALARS", "SPEC_FILE", "STATUS", "STUDY_FILE", "SweepError",
           "TENSORBOARD_DIR", "TEST_METRICS_FILE", "TRIALS_CSV_FILE", "TUNE_DIR", "TrialStore",
           "best_trial", "checkpoint_test_metrics", "finite", "histories", "hold_lock",
           "is_sweep_dir", "is_uri", "join_uri", "latest_checkpoint", "local_file",
           "parse_results", "publish_ledger", "read_scalars", "read_spec", "reported_epoch",
           "running_pid", "scalar_tags", "space_of", "started_config", "started_params",
           "trial_best_epoch", "trial_history", "trial_key", "trial_rows", "trial_store",
           "trials_csv_text", "unbatch", "write_events", "write_recovered", "write_spec",
           "write_trial_events", "write_trials_csv"]
