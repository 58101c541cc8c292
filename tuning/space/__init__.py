"""The search space: a space file read and validated into a ``SearchSpace``.

Its keys are declared once (``SpaceSettings``, ``_settings``); ``params:`` is parsed into ``Param``s
with ``when:`` conditions (``_params``); the ``cpu:`` section scales a space down for a machine
without a GPU (``_cpu``); ``compile_space`` turns the parameters into an Optuna define-by-run
function (``_optuna``); ``parse_space``/``load_space`` read a file, and ``asha_rungs`` gives
ASHA's rungs (``_parse``); ``edited`` applies the sweep's changes to a parsed space without
parsing the file again (``_edit``); ``trial_config`` applies a trial's sampled values to the base
config (``_trial_config``: no torch, no Ray). ``python -m tuning.space`` prints the settings'
reference.
"""

from tuning.space._cpu import CPU_KEYS, scaled_for_cpu, section_problems
from tuning.space._edit import edited
from tuning.space._optuna import compile_space, distributions, misfits
from tuning.space._params import (
    PARAM_TYPES,
    Param,
    condition_holds,
    order_params,
    parse_params,
    short_definition,
)
from tuning.space._parse import (
    SearchSpace,
    asha_rungs,
    base_task_type,
    fixed_params,
    load_space,
    parse_space,
    rule_problems,
)
from tuning.space._settings import (
    ConfirmSettings,
    ResourcesSettings,
    SamplerSettings,
    SchedulerSettings,
    SpaceSettings,
    TrackingSettings,
    reference_markdown_space,
)
from tuning.space._trial_config import trial_config

__all__ = ["CPU_KEYS", "ConfirmSettings", "PARAM_TYPES", "Param", "ResourcesSettings",
           "SamplerSettings", "SchedulerSettings", "SearchSpace", "SpaceSettings",
           "TrackingSettings", "asha_rungs", "base_task_type", "compile_space", "condition_holds",
           "distributions", "edited", "fixed_params", "load_space", "misfits", "order_params",
           "parse_params", "parse_space", "reference_markdown_space", "rule_problems",
           "scaled_for_cpu", "section_problems", "short_definition", "trial_config"]
