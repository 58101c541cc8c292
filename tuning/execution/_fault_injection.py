"""Fault injection for tests: the one place that reads ``SEQTUNE_FAULTS``.

``SEQTUNE_FAULTS="KIND:TRIAL:EPOCH,..."`` names faults a trial (``t0007``, ``c0002``) meets at an
epoch: ``raise_once`` raises after reporting EPOCH, once (a marker in ``SEQTUNE_FAULT_DIR``
remembers it); ``kill_once`` SIGKILLs the trial's own worker process there, once; ``raise`` and
``kill`` do it in every attempt, at the first report at or after EPOCH (a retried trial resumes past
EPOCH); ``oom`` raises ``torch.OutOfMemoryError`` and ``nospace`` an ``OSError`` ENOSPC there, in
every attempt; ``nan`` poisons the trial's training data with NaN, ``inf`` with inf; ``lucky`` adds
0.5 to the metric the trial reports from EPOCH on (its checkpoints keep the true values): a lucky
outlier of the search, for the confirmation tests; ``hold_once`` sleeps ``HOLD_S`` there, once, so
that a test's kill -9 lands before the sweep can end, however fast or loaded the machine.

Unset (every real sweep), each function here is a no-op.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import signal
import time
from pathlib import Path

__all__ = ["HOLD_S", "LUCKY_BONUS", "faults_for", "inject", "lucky", "poisoned"]

# How long a ``hold_once`` fault holds its trial: longer than any test waits for its kill.
HOLD_S = 600.0
LUCKY_BONUS = 0.5  # what a ``lucky`` fault adds to the reported metric


def faults_for(key: str, spec: str | None = None) -> list[tuple[str, int]]:
    """The faults of trial ``key`` as ``(kind, epoch)``, from ``spec`` (default: the
    ``SEQTUNE_FAULTS`` environment variable).

    Example:
        >>> faults_for("t0001", "raise_once:t0001:1,nan:t0002:1,lucky:t0001:3")
        [('raise_once', 1), ('lucky', 3)]
    """
    spec = os.environ.get("SEQTUNE_FAULTS", "") if spec is None else spec
    out = []
    for item in filter(None, spec.split(",")):
        kind, trial, epoch = item.split(":")
        if trial == key:
            out.append((kind, int(epoch)))
    return out


def poisoned(key: str, data):
    """``data`` (a ``core.data.DataSplits``) with the first feature of every training sequence
    set to NaN or inf where trial ``key`` has a ``nan`` or ``inf`` fault; else ``data`` itself."""
    for kind, _ in faults_for(key):
        if kind in ("nan", "inf"):
            x = data.train.x.clone()
            x[:, 0, 0] = float(kind)
            data = dataclasses.replace(data, train=dataclasses.replace(data.train, x=x))
    return data


def lucky(key: str, epoch: int, result: dict, metric: str) -> None:
    """Adds ``LUCKY_BONUS`` to ``result[metric]`` from the epoch of trial ``key``'s ``lucky``
    fault on (in place)."""
    for kind, at in faults_for(key):
        if kind == "lucky" and epoch >= at and metric in result:
            result[metric] += LUCKY_BONUS


def inject(key: str, epoch: int, first_report: bool) -> None:
    """Raises, kills the process or holds it where trial ``key`` has such a fault at ``epoch``
    (``first_report``: the attempt's first report, where ``raise`` and ``kill`` fire).

    Raises:
        RuntimeError: an injected ``raise`` or ``raise_once`` fault.
        torch.OutOfMemoryError: an injected ``oom`` fault.
        OSError: an injected ``nospace`` fault (ENOSPC).
    """
    for kind, at in faults_for(key):
        if kind in ("raise", "kill") and epoch >= at and first_report:
            if kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected fault: {key} raises after epoch {epoch}")
        if kind == "oom" and epoch >= at and first_report:
            import torch

            raise torch.OutOfMemoryError(f"injected fault: {key} is out of memory after epoch "
                                         f"{epoch}")
        if kind == "nospace" and epoch >= at and first_report:
            raise OSError(errno.ENOSPC, "No space left on device",
                          f"injected fault: {key} after epoch {epoch}")
        if kind in ("raise_once", "kill_once", "hold_once") and epoch == at:
            marker = Path(os.environ["SEQTUNE_FAULT_DIR"]) / f"{key}.{kind}"
            if marker.exists():
                continue
            marker.touch()
            if kind == "hold_once":
                time.sleep(HOLD_S)
                continue
            if kind == "kill_once":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected fault: {key} raises once after epoch {epoch}")
