"""Every epoch of every trial in TensorBoard: ``tensorboard --logdir <sweep>/tensorboard``.

Trials batch the epochs between ASHA's rungs into one ``tune.report``
(``tuning.execution._trainable``), so Ray's own event files
(``tune/run-<k>/<trial>/events.out.tfevents.*``) and ``progress.csv`` hold only the reported epochs:
the rungs, the last epoch, epochs with a checkpoint, and one every ``REPORT_INTERVAL_S`` seconds.
``result.json`` holds the others too, under ``earlier_epochs``. After each Tune run (finished,
interrupted or at a time budget) the driver writes one folder per trial, ``tensorboard/<trial>/``,
from those histories, with one point per epoch: no trial waits for it, and a trial resumed in a
later run appears once, with its epochs in order.
"""

from __future__ import annotations

import math
import shutil
import struct
from collections.abc import Iterable
from pathlib import Path

__all__ = ["METRIC_PREFIXES", "SCALARS", "read_scalars", "scalar_tags", "write_trial_events"]

# Per-epoch values written for every trial (tag = key), when a row has them: every metric of
# the task (train_*, val_*, test_*: val_auroc for a binary task, val_rmse for a regression) and
# these.
SCALARS = ("lr", "epoch_time_s", "samples_per_s")
METRIC_PREFIXES = ("train_", "val_", "test_")


def scalar_tags(row: dict) -> list[str]:
    """The tags of ``row`` (one epoch of a trial) that TensorBoard gets: its metrics and
    ``SCALARS``, each a finite number (a NaN loss is left out: TensorBoard cannot plot it).

    Example:
        >>> scalar_tags({"epoch": 3, "val_auroc": 0.9, "train_loss": float("nan"), "lr": 0.1,
        ...              "node_id": "ab", "best_epoch": 2})
        ['val_auroc', 'lr']
    """
    return [k for k, v in row.items()
            if (k.startswith(METRIC_PREFIXES) or k in SCALARS) and isinstance(v, (int, float))
            and not isinstance(v, bool) and math.isfinite(v)]


def write_trial_events(root: Path, key: str, rows: Iterable[dict]) -> int:
    """Writes ``root/<key>/`` afresh from a trial's per-epoch rows (``epoch`` as the step);
    returns how many epochs it wrote. The folder is built beside and renamed into place, so
    TensorBoard never reads half of it."""
    from tensorboardX import SummaryWriter

    rows = sorted((r for r in rows if isinstance(r.get("epoch"), (int, float))),
                  key=lambda r: r["epoch"])
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{key}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    writer = SummaryWriter(str(tmp))
    for r in rows:
        for tag in scalar_tags(r):
            writer.add_scalar(tag, float(r[tag]), int(r["epoch"]),
                              walltime=r.get("reported_at") or r.get("timestamp"))
    writer.close()
    final = root / key
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return len(rows)


def read_scalars(folder: Path) -> dict[str, dict[int, float]]:
    """The scalars in a folder's event files, ``{tag: {step: value}}`` (TFRecord framing,
    checksums not verified): what TensorBoard will plot."""
    from tensorboardX.proto import event_pb2

    out: dict[str, dict[int, float]] = {}
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            record = data[pos + 12:pos + 12 + length]
            pos += 12 + length + 4
            event = event_pb2.Event.FromString(record)
            for value in event.summary.value:
                out.setdefault(value.tag, {})[int(event.step)] = value.simple_value
    return out
