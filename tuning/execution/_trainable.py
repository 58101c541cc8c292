"""The Ray Tune function trainable: thin glue between Tune and ``core.loop.fit``.

A trial's config is ``{"params": {dotted key: value}, "trial_key": "t0007", "resume_from": path}``;
the base config, the shared data set and the epoch budget arrive once per sweep through
``tune.with_parameters``. Every epoch reaches Tune (``report_due`` batches the epochs between ASHA
rungs; ``tuning.record.unbatch`` expands them), with a checkpoint when ``checkpoint_due`` says so
(the last epoch always); a retried or restored trial resumes from ``tune.get_checkpoint()`` (or
from ``resume_from`` when a resumed sweep continues it).

Fault injection for tests (``SEQTUNE_FAULTS``) lives in ``tuning.execution._fault_injection``.

A confirmation run (``tuning.confirm``; ``evaluate_test`` in its config) evaluates the test split
after its last epoch and reports ``test_<name>`` for each of ``core.evaluate.evaluate``'s metrics
with that epoch (the last report waits for it, so a run killed meanwhile resumes and evaluates
again). The test metrics are also written next to that checkpoint (``TEST_METRICS_FILE``), where a
resume finds them if the driver was killed before it recorded the report.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import torch

import tuning.execution._fault_injection as fault_injection
from core.checkpoint import load_checkpoint
from core.config import ConfigError
from core.data import DataSplits
from core.errors import NonFiniteLossError, TrainingError, is_out_of_memory, is_out_of_space
from core.evaluate import evaluate
from core.files import atomic_write_text
from core.loop import fit, task_loss
from core.tasks import decision_threshold
from tuning.execution._startup import process_started_at
from tuning.record import CHECKPOINT_FILE, EARLIER_EPOCHS, TEST_METRICS_FILE
from tuning.space import trial_config

__all__ = ["INVALID_CONFIG", "NON_FINITE", "NO_SPACE", "OUT_OF_MEMORY", "SharedData",
           "checkpoint_due", "failure_result", "report_due", "train_trial"]


class SharedData:
    """The sweep's data set in Ray's object store, deserialized once per worker process.

    ``tune.with_parameters`` alone would ``ray.get`` (and so copy) the whole data set at every
    trial start: 23 to 34 ms for the default 20 MB data set on the CI machine, where the
    suggestion-to-trainable gap of a trial on a reused worker fell from 55 to 23 ms without it.
    A reused worker keeps the data it already has.
    """

    _cache: dict[str, DataSplits] = {}  # per process: object ref (hex) -> data

    def __init__(self, ref):
        self.ref = ref  # ray.ObjectRef of a DataSplits

    @classmethod
    def put(cls, data: DataSplits) -> SharedData:
        import ray

        return cls(ray.put(data))

    def get(self) -> DataSplits:
        key = self.ref.hex()
        if key not in self._cache:
            import ray

            self._cache.clear()  # one sweep's data per worker
            self._cache[key] = ray.get(self.ref)
        return self._cache[key]


def checkpoint_due(epoch: int, max_epochs: int, since_last_s: float, interval_s: float,
                   rungs: tuple[int, ...] = ()) -> bool:
    """A trial saves its last epoch and every ASHA rung, and otherwise once ``interval_s``
    seconds have passed since its previous checkpoint (0: every epoch). A trial ASHA stops at a
    rung thus keeps that epoch's checkpoint, whose best-epoch state (a cross-validated trial's
    out-of-fold outputs) the refit and the ensemble read (``tuning.final``). A save and Tune's
    copy of it into storage measured about 20 ms per epoch on an H100 machine, a third of a
    CUDA-graphed default GRU epoch."""
    return epoch >= max_epochs or epoch in rungs or interval_s <= 0 or \
        since_last_s >= interval_s


# Longest a trial keeps epochs from Tune between rungs. SEQTUNE_REPORT_INTERVAL_S changes it
# (tests set it high, so that only rungs, checkpoints and the last epoch report, whatever the load).
REPORT_INTERVAL_S = float(os.environ.get("SEQTUNE_REPORT_INTERVAL_S", "2.0"))


def report_due(epoch: int, max_epochs: int, rungs: tuple[int, ...], since_report_s: float,
               checkpoint: bool) -> bool:
    """Each ``tune.report`` is a round trip to the driver (about 10 ms, measured on an H100
    machine), a sixth of a CUDA-graphed GRU epoch. Epochs between ASHA's rungs are therefore
    batched into the next report (``earlier_epochs``), which changes no ASHA decision: a trial
    reports at every rung, at its last epoch, with every checkpoint, and at least every
    ``REPORT_INTERVAL_S`` seconds."""
    return (checkpoint or epoch in rungs or epoch >= max_epochs
            or since_report_s >= REPORT_INTERVAL_S)


def _load_resume(path_or_uri: str) -> dict:
    """A resumed sweep's checkpoint: a local path, or a URI in the sweep's trial store."""
    from tuning.record import local_file

    with tempfile.TemporaryDirectory(prefix="seqtune-") as d:
        return load_checkpoint(local_file(path_or_uri, d))


_trials_in_process = 0  # trials this worker process has started, the current one included
_imported_at = time.time()  # this module, torch and core imported: the worker can train


def train_trial(config: dict, *, base: dict, data: DataSplits | SharedData, max_epochs: int,
                metric: str, cpus_per_trial: float = 1.0, checkpoint_interval_s: float = 0.0,
                rungs: tuple[int, ...] = ()) -> None:
    entered_at = time.time()
    global _trials_in_process
    _trials_in_process += 1
    worker_trials = _trials_in_process
    from ray import tune

    key = config["trial_key"]
    if isinstance(data, SharedData):
        data = data.get()
    data_ready_at = time.time()
    import ray

    gpu = {"node_id": ray.get_runtime_context().get_node_id()}
    try:
        cfg = trial_config(base, config["params"], max_epochs, f"trial {key}", cpus_per_trial)
    except ConfigError as exc:
        # The sampled parameters cannot make a valid config; every attempt would fail the same
        # way. A terminal result instead of an exception: Tune retries only what raises.
        tune.report(failure_result(metric, 0, INVALID_CONFIG, str(exc), gpu))
        return
    device = torch.device("cpu")
    if torch.cuda.is_available():
        device = torch.device("cuda", 0)  # Ray narrows CUDA_VISIBLE_DEVICES to the trial's GPU
        ids = ray.get_gpu_ids()
        gpu.update(gpu_id=int(ids[0]) if ids else 0, gpu_name=torch.cuda.get_device_name(0),
                   visible_gpus=torch.cuda.device_count())
    state = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            state = load_checkpoint(Path(d) / CHECKPOINT_FILE)
    elif config.get("resume_from"):
        state = _load_resume(config["resume_from"])
    start_epoch = state["epoch"] if state is not None else 0
    data = fault_injection.poisoned(key, data)
    last = {"epoch": start_epoch, "report_s": 0.0, "saved": time.perf_counter(),
            "reported": time.perf_counter()}
    pending: list[dict] = []
    worker_start = process_started_at()
    fit_entry = time.time()

    def reporter(metrics: dict, write_checkpoint) -> None:
        t0 = time.perf_counter()
        # Timings: the searcher's suggestion to this trial's first training batch, and the
        # seconds spent so far in checkpoint writes and tune.report (Tune's share of the trial).
        timing = {"launch_to_first_step_s": fit_entry + metrics["setup_s"]
                  - config.get("suggested_at", fit_entry), "report_s": last["report_s"],
                  "reported_at": time.time()}
        if metrics["epoch"] == start_epoch + 1:
            # Where a trial's start went: the worker process's start (earlier than the
            # suggestion when the worker was reused or started idle), entry into this function
            # (imports, data), fit() entry (config, checkpoint), and fit's setup_s (model, CUDA,
            # graph capture) and first step. worker_trials == 1: the worker's first trial. The
            # driver logs the sweep's start-up from these (tuning.execution._startup).
            timing.update(suggested_at=config.get("suggested_at"), worker_started_at=worker_start,
                          worker_trials=worker_trials, worker_imported_at=_imported_at,
                          entered_at=entered_at, data_ready_at=data_ready_at,
                          fit_entered_at=fit_entry)
            if metrics.get("first_step_s") is not None:
                timing["first_step_at"] = fit_entry + metrics["first_step_s"]
        result = {**metrics, **gpu, **timing, "start_epoch": start_epoch}
        fault_injection.lucky(key, metrics["epoch"], result, metric)
        save = checkpoint_due(metrics["epoch"], max_epochs, t0 - last["saved"],
                              checkpoint_interval_s, rungs)
        if config.get("evaluate_test") and metrics["epoch"] >= max_epochs:
            # Reported after fit returns, with the test metrics of this epoch's model.
            write_checkpoint(Path(final_dir.name) / CHECKPOINT_FILE, durable=False)
            result[EARLIER_EPOCHS] = pending[:]
            pending.clear()
            final.append(result)
        elif not report_due(metrics["epoch"], max_epochs, rungs, t0 - last["reported"], save):
            pending.append(result)
        else:
            result[EARLIER_EPOCHS] = pending[:]
            pending.clear()
            if save:
                with tempfile.TemporaryDirectory() as d:
                    # Not fsynced: Tune copies the directory into the sweep's storage at once.
                    write_checkpoint(Path(d) / CHECKPOINT_FILE, durable=False)
                    result["checkpoint_s"] = time.perf_counter() - t0
                    tune.report(result, checkpoint=tune.Checkpoint.from_directory(d))
                last["saved"] = time.perf_counter()
            else:
                tune.report(result)
            last["reported"] = time.perf_counter()
        last["report_s"] += time.perf_counter() - t0
        first_report = last["epoch"] == start_epoch
        last["epoch"] = metrics["epoch"]
        fault_injection.inject(key, metrics["epoch"], first_report)

    final: list[dict] = []  # a confirmation run's last epoch, reported with its test metrics
    final_dir = tempfile.TemporaryDirectory(prefix="seqtune-")
    try:
        fitted = fit(cfg, data, reporter=reporter, resume=state, device=device)
        if final:
            result = final[0]
            if len(data.test):
                # binary: f1_best applies the run's decision threshold (task.threshold, else
                # the one validation chose at this epoch)
                test = evaluate(fitted.model, data.test, cfg.training.eval_batch_size,
                                fitted.device, fitted.precision,
                                task_loss(cfg, data).to(fitted.device), top_k=cfg.task.top_k,
                                threshold=decision_threshold(cfg.task.threshold,
                                                             result.get("val_threshold"))[0],
                                target_mean=data.target_mean, target_std=data.target_std)
                result.update({f"test_{k}": v for k, v in test.items()})
                # In the checkpoint too: a driver killed after Tune saved it may lose this line.
                atomic_write_text(Path(final_dir.name) / TEST_METRICS_FILE,
                                  json.dumps({f"test_{k}": v for k, v in test.items()}))
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(final_dir.name))
    except NonFiniteLossError as exc:
        tune.report({**failure_result(metric, last["epoch"] + 1, NON_FINITE, str(exc), gpu),
                     EARLIER_EPOCHS: pending[:]})
    except TrainingError as exc:
        # Deterministic for this config (no training batch, a device it cannot have, a
        # checkpoint of other settings): not retried either.
        tune.report({**failure_result(metric, last["epoch"] + 1, INVALID_CONFIG,
                                      f"trial {key}: {exc}", gpu),
                     EARLIER_EPOCHS: pending[:]})
    except Exception as exc:
        # Out of memory: the config's size on this device, as deterministic as an invalid config
        # (a retry fails the same way), so it fails once and TPE learns from it. Out of disk
        # space: no retry can succeed until someone makes room, so the sweep stops
        # (``tuning.execution._searcher``) and a resume continues the trial.
        kind = OUT_OF_MEMORY if is_out_of_memory(exc) else NO_SPACE if is_out_of_space(exc) \
            else None
        if kind is None:
            raise
        if kind == OUT_OF_MEMORY and torch.cuda.is_available():
            torch.cuda.empty_cache()  # the worker goes on to other trials
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        tune.report({**failure_result(metric, last["epoch"] + 1, kind, f"trial {key}: {reason}",
                                      gpu),
                     EARLIER_EPOCHS: pending[:]})
    finally:
        final_dir.cleanup()


# kinds of reported failure (``tuning.study._sampler``)
INVALID_CONFIG, NON_FINITE = "invalid config", "non-finite loss"
OUT_OF_MEMORY, NO_SPACE = "out of memory", "no disk space"


def failure_result(metric: str, epoch: int, kind: str, reason: str, extra: dict) -> dict:
    """A trial's terminal result when it cannot go on: ``metric`` is NaN (never the best, never
    promoted by ASHA), ``failure`` the reason's text and ``failure_kind`` one of
    ``INVALID_CONFIG``, ``NON_FINITE``, ``OUT_OF_MEMORY`` (the searcher records the trial as
    FAIL) and ``NO_SPACE`` (the sweep stops; the trial stays RUNNING for a resume)."""
    return {"epoch": epoch, metric: float("nan"), "failure": reason, "failure_kind": kind,
            **extra}
