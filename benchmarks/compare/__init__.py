"""The search comparison (``python benchmarks/compare_search.py``, docs/comparison.md), by concern:

- ``tasks``: the tasks and methods, ``task_setup``, the options a child process needs;
- ``training``: the trial body of b, c and d (``core.loop.fit``, as a's trainable);
- ``method_sweep`` (a: this project's sweep), ``method_ray`` (b, c: Ray Tune),
  ``method_optuna`` (d: Optuna alone), each writing its run's ``summary`` file;
- ``orchestration``: every method and seed as child processes, the retrains, the deadline;
- ``analysis``: pure functions over the runs' summaries (cut at the budget, each method's rule of
  choosing, time to target, the table); ``results``: reading the runs, writing the table, JSON
  and plot;
- ``packing``: one archive of the small result files.
"""

from benchmarks.compare.analysis import (
    final_choices,
    reach,
    retrain_dir,
    score_run,
    table_lines,
    target_method,
    timeline,
)
from benchmarks.compare.method_sweep import confirm_share
from benchmarks.compare.orchestration import retrain, run_all, run_one
from benchmarks.compare.packing import pack
from benchmarks.compare.results import analyse
from benchmarks.compare.tasks import HARD, METHODS, TASKS, Setup, Task, task_setup

__all__ = ["HARD", "METHODS", "TASKS", "Setup", "Task", "analyse", "confirm_share",
           "final_choices", "pack", "reach", "retrain", "retrain_dir", "run_all", "run_one",
           "score_run", "table_lines", "target_method", "task_setup", "timeline"]
