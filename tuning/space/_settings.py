"""The search-space file's own keys, declared once with ``core.schema.spec``: ``SpaceSettings``
and its sections (``scheduler``, ``sampler``, ``resources``, ``confirm``).

``tuning.space.parse_space`` builds them from a space file (every problem named by its dotted
key); ``params`` has a parser of its own (``tuning.space._params``) and ``cpu:`` too
(``tuning.space._cpu``). The reference in docs/config-reference.md is generated from these
classes (``python -m tuning.space`` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.schema import reference_markdown, spec

__all__ = ["ConfirmSettings", "ResourcesSettings", "SamplerSettings", "SchedulerSettings",
           "SpaceSettings", "TrackingSettings", "reference_markdown_space"]


@dataclass
class SchedulerSettings:
    """``scheduler:`` ASHA's settings."""

    grace_period: int = spec(2, "ASHA: epochs every trial trains before its first rung.", ge=1)
    reduction_factor: int = spec(3, "ASHA: 1/reduction_factor of the trials at a rung go on to "
                                    "the next; rungs at grace_period * reduction_factor**k.",
                                 ge=2)


@dataclass
class SamplerSettings:
    """``sampler:`` Optuna's sampler."""

    name: str = spec("tpe", "Optuna sampler: TPE (multivariate, grouped, constant liar for "
                            "parallel trials), random, or quasi-random (Sobol).",
                     choices=("tpe", "random", "qmc"))
    seed: int = spec(0, "Sampler seed; a resumed sweep shifts it by the trials already in the "
                        "study, so it never repeats the first start's draws.")
    n_startup_trials: int = spec(8, "TPE: random trials before the model is used.", ge=0)


@dataclass
class ResourcesSettings:
    """``resources:`` what each trial asks Ray for."""

    trials_per_gpu: int = spec(1, "Trials sharing one GPU (each asks Ray for 1/trials_per_gpu "
                                  "of it; with more than 1 the sweep starts CUDA MPS).", ge=1)
    cpus_per_trial: float = spec(1.0, "CPUs Ray reserves per trial; also the trial's "
                                      "experiment.num_threads unless the base config sets it.",
                                 gt=0)


@dataclass
class ConfirmSettings:
    """``confirm:`` the confirmation phase after the search (``tuning.confirm``)."""

    top_k: int = spec(0, "Confirmation: the best top_k distinct configurations of the search are "
                         "retrained at full length on fresh seeds after it, and the best mean "
                         "wins (docs/confirmation.md); 0: off (--confirm K,S overrides).", ge=0)
    seeds: int = spec(3, "Confirmation: fresh experiment.seed values per configuration (2 or "
                         "more give a 95% interval).", ge=1)
    budget_share: float = spec(0.2, "Confirmation: the part of --time-budget kept for it.",
                               gt=0, lt=1)


@dataclass
class TrackingSettings:
    """``tracking:`` where the sweep is logged besides its directory (docs/tracking.md)."""

    mlflow: str | None = spec(None, "MLflow tracking URI: an http(s):// server, a sqlite:/// "
                                    "file or a local folder; the driver logs one parent run per "
                                    "sweep, one child run per trial, every epoch (--mlflow "
                                    "overrides; null: none).")
    experiment: str | None = spec(None, "MLflow experiment of the sweep's runs; null: the space "
                                        "file's name.")


@dataclass
class SpaceSettings:
    """The search-space file's own keys (``params`` has a parser of its own:
    ``tuning.space.parse_params``)."""

    base_config: str = spec("", "Path of the config the search starts from, relative to the "
                                "space file (required).")
    metric: str | None = spec(None, "Metric the sweep optimises: one its base task produces; "
                                    "null: the task's default checkpoint metric.")
    mode: str | None = spec(None, "Whether the metric improves downwards or upwards; null: "
                                  "the metric's own direction (any other value is an error).",
                            choices=("min", "max"))
    num_samples: int = spec(32, "Trials in total (--num-samples overrides).", ge=1)
    max_epochs: int = spec(20, "Epochs of a full trial; ASHA stops the others earlier "
                               "(--max-epochs overrides).", ge=1)
    checkpoint_interval_s: float = spec(10.0, "Seconds between a trial's checkpoints (its last "
                                              "epoch is always saved); 0 saves every epoch. A "
                                              "killed trial resumes from its newest checkpoint, "
                                              "so this bounds the work lost.", ge=0)
    size_to_data: bool = spec(False, "Pre-flight: data.cv_folds (lowered to the smallest "
                                     "class's count), the training.batch_size choices, "
                                     "max_epochs and scheduler.grace_period derived from the "
                                     "number of training sequences (tuning.driver; printed); "
                                     "keys given by --set or --max-epochs are kept.")
    ensemble: int = spec(0, "Members (at most) of the ensemble tuning.export also writes, as "
                            "<out>-ensemble.yaml: greedy selection over the best trials' "
                            "out-of-fold outputs (a cross-validated sweep's); 0: none "
                            "(--ensemble N overrides).", ge=0)
    scheduler: SchedulerSettings = spec(None, "ASHA.", factory=SchedulerSettings)
    sampler: SamplerSettings = spec(None, "Optuna's sampler.", factory=SamplerSettings)
    resources: ResourcesSettings = spec(None, "Per-trial resources.", factory=ResourcesSettings)
    confirm: ConfirmSettings = spec(None, "Confirmation of the search's best configurations.",
                                    factory=ConfirmSettings)
    tracking: TrackingSettings = spec(None, "Experiment tracking (MLflow).",
                                      factory=TrackingSettings)
    params: dict[str, Any] = spec(None, "Dotted config keys mapped to distributions ({type: "
                                        "float, int or categorical, ...}, optional when:) or "
                                        "fixed values (required, non-empty).", factory=dict)


def reference_markdown_space() -> str:
    """The search-space reference table (docs/config-reference.md), generated from
    ``SpaceSettings``."""
    return reference_markdown(SpaceSettings)
