"""The sweep: Ray Tune runs the trials, an Optuna study chooses them (``python -m tuning.sweep``).

The Python API (``tuning.api``): ``run_sweep`` starts or resumes a sweep, ``load_sweep`` reads
one, and ``Sweep`` holds its trials, histories, best trial, export and report. Importing this
package imports neither Ray nor torch.
"""

from tuning.api import Best, Sweep, SweepInterrupted, load_sweep, run_sweep
from tuning.errors import SweepError

__all__ = ["Best", "Sweep", "SweepError", "SweepInterrupted", "load_sweep", "run_sweep"]
