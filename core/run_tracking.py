"""A standalone run's directory logged to MLflow as one run (``core.train --mlflow``).

The run directory (``core.run_dir``'s files) is the record: its config as params, every epoch
of ``metrics.csv`` at ``step = epoch``, its summary's best and test metrics, its files as
artifacts and its status. The run is found again by the tag of its directory, so logging a
resumed run adds only its new epochs (``core.tracking.Tracker``: the client, its timeouts and
errors). A sweep's trials are logged by ``tuning.tracking``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from core.tracking import Tracker

__all__ = ["log_run_dir"]


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys -> values.

    Example:
        >>> _flatten({"model": {"name": "gru", "hidden_size": 16}, "seed": 0})
        {'model.name': 'gru', 'model.hidden_size': 16, 'seed': 0}
    """
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# metrics.csv columns that are counters or bookkeeping, not curves worth a chart.
_NOT_METRICS = ("epoch", "global_step", "best_epoch", "best_metric")


def _csv_rows(path: Path) -> list[dict]:
    """metrics.csv's rows with numbers parsed (empty cells left out)."""
    rows = []
    with path.open() as f:
        for r in csv.DictReader(f):
            row = {}
            for k, v in r.items():
                try:
                    row[k] = float(v)
                except (TypeError, ValueError):
                    continue
            if "epoch" in row:
                rows.append(row)
    return rows


def log_run_dir(uri: str, run_dir: Path, experiment: str | None = None,
                checkpoints: bool = False, interrupted: bool = False) -> str:
    """Logs the standalone run in ``run_dir`` (``core.run``'s files) to MLflow and returns the
    MLflow run id: the config's values as params (dotted keys), every epoch of metrics.csv with
    ``step = epoch``, ``config_snapshot.yaml`` and ``summary.json`` as artifacts, the best metric
    and test metrics as metrics, the status (FINISHED, FAILED, or RUNNING while no summary says
    otherwise; KILLED when ``interrupted``), and with ``checkpoints`` the ``checkpoints/``
    folder. The run is the one tagged with this run directory when there is one (a resumed run
    adds only its new epochs).

    Raises:
        TrackingError: the server could not be reached or refused a write.
    """
    import yaml

    run_dir = Path(run_dir).resolve()
    config_text = (run_dir / "config_snapshot.yaml").read_text()
    config = yaml.safe_load(config_text) or {}
    name = (config.get("experiment") or {}).get("name") or "seqtune"
    tracker = Tracker(uri, experiment or name)
    key = {"seqtune.run_dir": str(run_dir)}
    found = tracker.find_runs(key)
    run = found[0] if found else tracker.create_run(run_dir.name, {**key, "seqtune.kind": "run"},
                                                    start_s=run_dir.stat().st_mtime)
    run_id = run.info.run_id
    tracker.log_params(run_id, _flatten(config), run.data.params)
    rows = _csv_rows(run_dir / "metrics.csv") if (run_dir / "metrics.csv").is_file() else []
    done = tracker.logged_epochs(run_id) if found else set()
    tracker.log_epochs(run_id, rows, lambda r: [k for k in r if k not in _NOT_METRICS], done)
    summary_path = run_dir / "summary.json"
    status = "KILLED" if interrupted else "RUNNING"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        finals = {"best_epoch": summary.get("best_epoch"),
                  f"best_{summary.get('checkpoint_metric')}": summary.get("best_metric"),
                  **(summary.get("test") or {})}
        tracker.log_values(run_id, finals, summary_path.stat().st_mtime)
        tracker.log_file(run_id, summary_path)
        status = "FAILED" if summary.get("status") == "failed" else "FINISHED"
        tracker.set_tags(run_id, {"seqtune.status": summary.get("status", ""),
                                  **({"seqtune.error": summary["error"]} if summary.get("error")
                                     else {})}, run.data.tags)
    tracker.log_text(run_id, config_text, "config_snapshot.yaml")
    if checkpoints and (run_dir / "checkpoints").is_dir():
        tracker.log_file(run_id, run_dir / "checkpoints", "checkpoints")
    tracker.set_status(run_id, status, run.info.status)
    return run_id
