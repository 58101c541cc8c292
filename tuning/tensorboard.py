"""Every epoch of every trial in TensorBoard: ``tensorboard --logdir <sweep>/tensorboard``.

Trials batch the epochs between ASHA's rungs into one ``tune.report`` (``tuning.trainable``), so
Ray's own event files (``tune/run-<k>/<trial>/events.out.tfevents.*``) and ``progress.csv`` hold
only the reported epochs: the rungs, the last epoch, epochs with a checkpoint, and one every
``REPORT_INTERVAL_S`` seconds. ``result.json`` holds the others too, under ``earlier_epochs``.
After each Tune run (finished, interrupted or at a time budget) the driver writes one folder per
trial, ``tensorboard/<trial>/``, from those histories, with one point per epoch: no trial waits
for it, and a trial resumed in a later run appears once, with its epochs in order.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterable
from pathlib import Path

__all__ = ["SCALARS", "read_scalars", "write_trial_events"]

# Per-epoch values written for every trial (tag = key), when a row has them.
SCALARS = ("train_loss", "val_loss", "val_accuracy", "val_macro_f1", "lr", "epoch_time_s",
           "samples_per_s")


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
        for tag in SCALARS:
            v = r.get(tag)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                writer.add_scalar(tag, float(v), int(r["epoch"]),
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
