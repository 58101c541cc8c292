"""The trial body of the peers b, c and d: one configuration trained with ``core.loop.fit``, the
same training code as a's trainable."""

from __future__ import annotations

import time

from benchmarks.compare.tasks import better
from tuning.space import compile_space, trial_config

__all__ = ["WORST", "DefineSpace", "train_one"]

WORST = {"max": 0.0, "min": 1.0e9}  # the score of a trial whose loss became NaN/inf


def train_one(base: dict, params: dict, max_epochs: int, data, on_epoch, metric: str,
              mode: str) -> float:
    """Trains one configuration; ``on_epoch(metrics, first_step_wall)`` after every epoch.
    Returns the best epoch's ``metric``.

    Raises:
        NonFiniteLossError: the loss became NaN or inf (the caller scores it ``WORST``).
    """
    import torch

    from core.loop import fit

    entry = time.time()
    cfg = trial_config(base, params, max_epochs, "compare_search")
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    scores: list[float] = []

    def reporter(metrics, _write_checkpoint):
        scores.append(metrics[metric])
        on_epoch(metrics, entry + metrics["setup_s"])

    fit(cfg, data, reporter=reporter, device=device)
    return better(mode)(scores)


class DefineSpace:
    """The compiled define-by-run space in a picklable form (Tune checkpoints its searcher)."""

    def __init__(self, params):
        self.params = params

    def __call__(self, trial):
        return compile_space(self.params)(trial)
