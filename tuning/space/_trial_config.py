"""The rule that turns a sweep's base config and a trial's sampled values into that trial's config.

Kept apart from the Ray glue (``tuning.execution._trainable``) so that the commands that only write
or check configs (``tuning.export``, the sweep's set-up checks, the pre-flight) import neither torch
nor Ray.
"""

from __future__ import annotations

from typing import Any

from core.config import Config, apply_overrides, config_from_dict

__all__ = ["trial_config"]


def trial_config(base: dict, params: dict[str, Any], max_epochs: int, source: str,
                 cpus_per_trial: float = 1.0) -> Config:
    """The full config of one trial: ``base`` (a config as a dict) + the sampled ``params``
    (dotted key -> value), ``max_epochs`` epochs.

    Early stopping inside the loop is switched off: in a sweep, ASHA decides who stops early. The
    trial's CPU share becomes ``experiment.num_threads`` (unless the base sets it), so the config
    states the thread count its CPU results depend on.

    Raises:
        ConfigError: the values make an invalid config (``source`` named).
    """
    extra = [("training.epochs", max_epochs), ("training.early_stopping.patience", 0)]
    if not base.get("experiment", {}).get("num_threads"):
        extra.append(("experiment.num_threads", max(1, int(cpus_per_trial))))
    raw = apply_overrides(base, list(params.items()) + extra)
    return config_from_dict(raw, source)
