"""benchmarks/reproduce.py compares a standalone run with a trial's full per-epoch history."""

import csv
import io
import json

from benchmarks.reproduce import METRICS, max_diff, table
from tuning.record import trial_history


def _epochs(n):
    return [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "val_accuracy": 0.1 * e,
             "val_macro_f1": 0.09 * e} for e in range(1, n + 1)]


def test_identical_batched_history_differs_by_zero(tmp_path):
    epochs = _epochs(6)
    # As the shipped config reports: at ASHA's rungs (2 and 6), the epochs between batched.
    reports = [{**epochs[1], "earlier_epochs": [epochs[0]]},
               {**epochs[5], "earlier_epochs": epochs[2:5]}]
    trial_dir = tmp_path / "tune" / "run-0" / "t0000"
    trial_dir.mkdir(parents=True)
    (trial_dir / "result.json").write_text("".join(json.dumps(r) + "\n" for r in reports))
    # A standalone run's metrics.csv with the same values (read back as strings).
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(epochs[0]))
    writer.writeheader()
    writer.writerows(epochs)
    standalone = list(csv.DictReader(io.StringIO(buf.getvalue())))

    trial = trial_history(tmp_path, "t0000")
    assert [r["epoch"] for r in trial] == [1, 2, 3, 4, 5, 6]
    for m in METRICS:
        assert max_diff(standalone, trial, m) == 0.0
    rows = table(trial, [standalone, standalone])
    assert all("0.00e+00, 0.00e+00 | 0.00e+00 |" in line for line in rows[2:])


def test_histories_are_compared_epoch_by_epoch():
    a = _epochs(4)
    b = [dict(r) for r in a[1:]]  # the trial reported epochs 2-4 only
    b[0]["val_accuracy"] += 0.5
    # Epoch 1 is not compared, epoch 2 differs by 0.5: never row by row.
    assert abs(max_diff(a, b, "val_accuracy") - 0.5) < 1e-12
