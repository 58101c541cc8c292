"""Why a trial failed, and how the sampler learns from it.

A trial fails in one of three ways, and ``trials.csv``'s ``failure`` column always holds the
reason's text:

- its sampled parameters make an invalid config (``tuning.execution.INVALID_CONFIG``): the
  trainable reports a terminal result carrying the ``ConfigError`` message, so Tune never retries
  it (a retry would sample nothing new);
- its loss became NaN or inf (``tuning.execution.NON_FINITE``): a terminal result too;
- it ran out of memory (``tuning.execution.OUT_OF_MEMORY``: ``torch.OutOfMemoryError``, the CPU
  allocator's error): a terminal result too, since the same size fails the same way on a retry;
- (not a failure) the disk filled up (``tuning.execution.NO_SPACE``): the searcher stops the
  sweep and leaves the trial RUNNING with the reason in its ``stopped`` attribute, so that a
  resume, once there is room, continues it;
- it raised, or its worker died, in every attempt Tune's ``max_failures`` allows: the last
  attempt's exception, as Tune wrote it into the trial's ``error.txt``
  (``tuning.execution.TrialErrors`` reads it with ``error_reason``).

Optuna's TPE ignores FAIL trials altogether (``TPESampler._sample`` reads COMPLETE, PRUNED and
RUNNING trials only), so it would keep proposing a region that cannot train.
``FailureAwareTPESampler`` shows it the trials that failed *because of their parameters* (the
first three kinds) as pruned trials without a value, which TPE ranks below every other trial.
"""

from __future__ import annotations

import re
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["PARAMETER_FAILURES", "FailureAwareTPESampler", "error_reason", "most_common_failure"]

# failure_kind user attributes of trials that failed because of their parameters
PARAMETER_FAILURES = ("invalid config", "non-finite loss", "out of memory")

_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*(?:Error|Exception|Exit|"
                             r"Interrupt)): ?(.*)$")


def error_reason(text: str) -> str:
    """The reason in a Tune ``error.txt`` (or any traceback text): its last ``XError: message``
    line, which is the trial's own exception under Ray's wrapper (``RayTaskError``); for a worker
    that died, Ray's first line and the worker's exit detail; else the first non-empty line.

    Example:
        >>> error_reason("ray::ImplicitFunc.train()\\n  File x\\nRuntimeError: boom\\n")
        'RuntimeError: boom'
    """
    blocks = re.split(r"^Failure # \d+.*$", text, flags=re.M)
    last = blocks[-1] if blocks else text
    lines = [line.strip() for line in last.splitlines() if line.strip()]
    for line in reversed(lines):
        m = _EXCEPTION_LINE.match(line)
        if m:
            return f"{m.group(1)}: {m.group(2)}".rstrip(": ")
    if not lines:
        return "error (no reason recorded)"
    # A dead worker: Ray's first line, and its exit detail without the paragraph of causes.
    detail = re.search(r"Worker exit detail: (.*?\.)(?: |$)", last)
    return f"{lines[0]} {detail.group(1)}" if detail else lines[0]


def most_common_failure(trials: list[FrozenTrial]) -> tuple[str, int] | None:
    """The ``failure`` text most FAIL trials share, and how many share it; None if none failed."""
    counts: dict[str, int] = {}
    for t in trials:
        if t.state == TrialState.FAIL:
            reason = t.user_attrs.get("failure") or "error (no reason recorded)"
            counts[reason] = counts.get(reason, 0) + 1
    if not counts:
        return None
    reason = max(counts, key=lambda r: counts[r])
    return reason, counts[reason]


class _WithParameterFailures:
    """A view of a study in which trials that failed because of their parameters read as pruned
    trials without values (for TPE's ``_get_trials`` only; everything else is the study)."""

    def __init__(self, study: optuna.Study):
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states=None, use_cache: bool = False):
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        if states is not None and TrialState.PRUNED not in states:
            return trials
        failed = self._study._get_trials(deepcopy=False, states=(TrialState.FAIL,),
                                         use_cache=use_cache)
        for t in failed:
            if t.user_attrs.get("failure_kind") in PARAMETER_FAILURES and t.params:
                view = optuna.trial.create_trial(state=TrialState.PRUNED, params=t.params,
                                                 distributions=t.distributions)
                view.number = t.number
                trials = [*trials, view]
        return trials


class FailureAwareTPESampler(optuna.samplers.TPESampler):
    """``TPESampler`` that counts trials FAIL for their parameters (``PARAMETER_FAILURES``) as
    the worst results, so it stops proposing invalid or diverging regions."""

    def sample_relative(self, study, trial, search_space):
        return super().sample_relative(_WithParameterFailures(study), trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return super().sample_independent(_WithParameterFailures(study), trial, param_name,
                                          param_distribution)
