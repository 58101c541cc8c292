"""How many optimizer steps a run takes, and what is wrong with that for small data.

A run of ``training.epochs`` epochs over ``n_train`` sequences takes
``ceil(batches / grad_accum_steps)`` optimizer steps per epoch, where ``batches`` is
``ceil(n_train / batch_size)`` (``floor`` with ``loader.drop_last``). On small data sets the
batch sizes that suit a large one leave a handful of steps per epoch, and a warmup given in steps
can outlast the run (the learning rate then peaks on the last step). ``plan_steps`` counts, and
``StepPlan.problems`` says what cannot train (an error) or will train badly (warnings).

Example:
    >>> from core.config import config_from_dict
    >>> cfg = config_from_dict({"training": {"epochs": 20, "batch_size": 64}})
    >>> plan = plan_steps(cfg, n_train=70)
    >>> plan.steps_per_epoch, plan.total_steps
    (2, 40)
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Config

__all__ = ["MIN_STEPS_PER_EPOCH", "MIN_TOTAL_STEPS", "StepPlan", "plan_steps", "warmup_intervals"]

# Fewer optimizer steps per epoch than this: the epoch budget of a config written for a larger
# data set trains a small one for a few dozen steps in all (issue 16 §4: 70 sequences with
# batches of 64 to 512 trained 20 to 40 steps per trial).
MIN_STEPS_PER_EPOCH = 10
# ... unless the run makes up for it with epochs: 9 steps per epoch for 150 epochs (1,350 steps,
# a hand-written GRU on 140 series) trains fully (docs/small-data.md: 500 steps and more).
MIN_TOTAL_STEPS = 500


def warmup_intervals(cfg: Config, total: int) -> int:
    """The warmup length in schedule intervals (steps or epochs) for a run of ``total``
    intervals: ``schedule.warmup_steps``, or ``schedule.warmup_fraction`` of ``total``."""
    s = cfg.schedule
    if s.warmup_fraction:
        return max(1, round(s.warmup_fraction * total))
    return s.warmup_steps


def _steps(n: int) -> str:
    return f"{n} optimizer step" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class StepPlan:
    n_train: int  # training sequences
    batch_size: int
    batches_per_epoch: int  # micro-batches
    steps_per_epoch: int  # optimizer steps
    epochs: int
    total_steps: int  # optimizer steps of the whole run
    interval: str  # unit of the schedule: "step" or "epoch"
    warmup: int  # warmup length in schedule intervals (0: none)
    schedule: str

    @property
    def total_intervals(self) -> int:
        return self.total_steps if self.interval == "step" else self.epochs

    def describe(self) -> str:
        """One line for a run log: steps per epoch and per run, and the warmup."""
        warm = ""
        if self.warmup and self.schedule != "plateau":
            warm = (f"; warmup {self.warmup} {self.interval}s "
                    f"({100 * self.warmup / max(self.total_intervals, 1):.0f}% of the run)")
        return (f"{self.n_train} training sequences in batches of {self.batch_size}: "
                f"{_steps(self.steps_per_epoch)} per epoch, {self.total_steps} in "
                f"{self.epochs} epochs{warm}")

    def problems(self, key: str = "training.batch_size") -> tuple[list[tuple[str, str]],
                                                                   list[str]]:
        """(errors as (config key, message), warnings as sentences). ``key`` names the batch
        size in messages (a sweep names its parameter)."""
        errors, warnings = [], []
        if self.batches_per_epoch == 0:
            errors.append((key, f"{self.batch_size} with loader.drop_last leaves no training "
                                f"batch: the train split has {self.n_train} sequences"))
            return errors, warnings
        if self.batch_size > self.n_train:
            warnings.append(f"{key} {self.batch_size} exceeds the train split ({self.n_train} "
                            "sequences): every epoch is one smaller batch")
        elif self.steps_per_epoch < MIN_STEPS_PER_EPOCH and self.total_steps < MIN_TOTAL_STEPS:
            warnings.append(f"{key} {self.batch_size} leaves {_steps(self.steps_per_epoch)} "
                            f"per epoch ({self.total_steps} in {self.epochs} epochs); for "
                            f"small data use smaller batches or more epochs (docs/small-data.md)")
        if self.schedule != "plateau" and self.warmup >= self.total_intervals:
            warnings.append(f"the warmup ({self.warmup} {self.interval}s) is not shorter than the "
                            f"whole run ({self.total_intervals} {self.interval}s): the learning "
                            "rate peaks on the last step; use schedule.warmup_fraction")
        return errors, warnings


def plan_steps(cfg: Config, n_train: int, *, epochs: int | None = None,
               batch_size: int | None = None) -> StepPlan:
    """The step plan of ``cfg`` on ``n_train`` training sequences (``epochs`` and
    ``batch_size`` replace the config's, e.g. a sweep's ``max_epochs`` or a sampled size)."""
    t = cfg.training
    epochs = t.epochs if epochs is None else epochs
    batch = t.batch_size if batch_size is None else batch_size
    batches = n_train // batch if cfg.loader.drop_last else -(-n_train // batch)
    steps = -(-batches // t.grad_accum_steps)
    total = steps * epochs
    interval = "epoch" if cfg.schedule.name == "plateau" else cfg.schedule.interval
    intervals = total if interval == "step" else epochs
    return StepPlan(n_train=n_train, batch_size=batch, batches_per_epoch=batches,
                    steps_per_epoch=steps, epochs=epochs, total_steps=total, interval=interval,
                    warmup=warmup_intervals(cfg, intervals), schedule=cfg.schedule.name)
