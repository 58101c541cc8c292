"""MLflow tracking: the URI check, a client with bounded timeouts, and idempotent runs.

seqtune logs to MLflow (https://mlflow.org, ``MlflowClient``) from records already on disk:
a standalone run's directory (``core.run_tracking``, used by ``core.train --mlflow``) and a
sweep's trials (``tuning.tracking``, from the driver). Every run is found again by its tags
before one is created, and every epoch is one ``log_batch`` (atomic on MLflow's SQL store) that
carries the metric ``epoch`` at ``step = epoch``; so logging the same record twice adds nothing,
and a record that grew (a resumed run) adds only its new epochs.

A tracking server must never stop or stall training: the client's HTTP requests get a timeout of
``TIMEOUT_S`` seconds and ``RETRIES`` retry (MLflow's ``MLFLOW_HTTP_REQUEST_TIMEOUT`` and
``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, set when the user has not set them), and every failure is a
``TrackingError`` that the callers turn into a warning.

``mlflow`` is imported only inside these functions (the ``mlflow`` extra): importing seqtune
never needs it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.errors import TrackingError

__all__ = ["EPOCH_KEY", "RETRIES", "TIMEOUT_S", "Tracker", "TrackingError", "check_uri",
           "mlflow_missing", "normalize_uri"]

log = logging.getLogger("core")

TIMEOUT_S = 5  # seconds per HTTP request to a tracking server
RETRIES = 1  # retries of a failed request (MLflow's default: 7, with backoff up to minutes)
EPOCH_KEY = "epoch"  # the metric every logged epoch carries (value = step = epoch)
MAX_METRICS_PER_BATCH = 1000  # MLflow's log_batch limits
MAX_PARAMS_PER_BATCH = 100
MAX_PARAM_CHARS = 6000
INSTALL_HINT = 'pip install -e ".[mlflow]"'
LOCAL_DB = "mlflow.db"  # a local folder's store (normalize_uri)


def mlflow_missing() -> str | None:
    """Why MLflow cannot be used here (not installed), or None."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return f"needs MLflow: {INSTALL_HINT}"
    return None


def check_uri(uri: str) -> str | None:
    """What is wrong with the tracking URI ``uri``, or None when it is usable: an ``http://`` or
    ``https://`` server, a ``sqlite:///`` file (its folder must exist), or a local folder
    (a path or ``file://`` URI; it is created when missing, its parent must exist, and a new one
    is written as a path, ``./mlruns``, not a bare name; it holds an SQLite store,
    ``normalize_uri``).

    Example:
        >>> check_uri("http://127.0.0.1:5000") is None
        True
        >>> check_uri("htp://host")
        "expected an http(s):// server, a sqlite:/// file or a local folder, got 'htp://host'"
    """
    uri = uri.strip()
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        if not parsed.hostname:
            return f"no host in {uri!r}"
        try:
            parsed.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError:
            return f"bad port in {uri!r}"
        return None
    if parsed.scheme == "sqlite":
        if not uri.startswith("sqlite:///") or len(uri) <= len("sqlite:///"):
            return f"expected sqlite:///PATH (three slashes, then the file), got {uri!r}"
        folder = Path(uri[len("sqlite:///"):]).expanduser().parent
        if not folder.is_dir():
            return f"the folder of {uri!r} does not exist: {folder}"
        return None
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else uri).expanduser()
        if not str(path):
            return "empty"
        if path.exists() and not path.is_dir():
            return f"{path} is a file, not a folder (a SQLite file is sqlite:///{path})"
        if not path.exists() and not path.resolve().parent.is_dir():
            return f"the parent folder of {path} does not exist"
        if not path.exists() and parsed.scheme == "" and "/" not in uri and \
                not uri.startswith(("~", ".")):
            # A typo ("not a uri", "http//host") would otherwise become a new folder here.
            return (f"{uri!r} is no server, sqlite:/// file or existing folder (a new local "
                    f"folder is written as a path: ./{uri})")
        return None
    return f"expected an http(s):// server, a sqlite:/// file or a local folder, got {uri!r}"


def normalize_uri(uri: str) -> str:
    """``uri`` as MLflow takes it: a relative SQLite path made absolute (the driver and
    ``tuning.track`` may run in other folders), and a local folder made the SQLite store
    ``mlflow.db`` in it (MLflow's own folder store is in maintenance mode and refused by
    default since MLflow 3); view it with ``mlflow ui --backend-store-uri`` and that URI.

    Example:
        >>> normalize_uri("http://h:5000/")
        'http://h:5000'
        >>> normalize_uri("/data/mlruns")
        'sqlite:////data/mlruns/mlflow.db'
    """
    uri = uri.strip()
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        return uri.rstrip("/")
    if scheme == "sqlite":
        return f"sqlite:///{Path(uri[len('sqlite:///'):]).expanduser().resolve()}"
    path = Path(urlparse(uri).path if scheme == "file" else uri).expanduser().resolve()
    return f"sqlite:///{path / LOCAL_DB}"


def _bound_timeouts() -> None:
    """MLflow's request timeout and retries, low (``TIMEOUT_S``, ``RETRIES``), unless the user
    set them: its defaults (120 s, 7 retries with backoff) can hold a stop for many minutes."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(TIMEOUT_S))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(RETRIES))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.5")
    # Its "View run at ..." line on stdout for every run ended: the sweep logs one line itself.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # MLflow's own INFO lines (database migrations, "View run at ...") would flood the sweep log.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class Tracker:
    """One MLflow experiment at one tracking URI, written through ``MlflowClient``.

    Every method raises ``TrackingError`` (never MLflow's or the network's own exceptions) when
    the server is unreachable, slow (``TIMEOUT_S``) or refuses the write.

    Args:
        uri: a tracking URI that ``check_uri`` accepts.
        experiment: the experiment's name; created when missing (with a ``sqlite:///`` URI its
            artifacts go to ``mlartifacts/`` beside the database, not into the working folder).
    """

    def __init__(self, uri: str, experiment: str):
        _bound_timeouts()
        from mlflow import MlflowClient

        self.uri = normalize_uri(uri)
        if self.uri.startswith("sqlite:///"):
            Path(self.uri[len("sqlite:///"):]).parent.mkdir(exist_ok=True)  # a new local folder
        self.experiment = experiment
        self.client = MlflowClient(tracking_uri=self.uri)
        self._experiment_id: str | None = None

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # MlflowException, requests', SQLAlchemy's, OSError: all alike
            raise TrackingError(f"MLflow at {self.uri}: {what}: {_reason(exc)}") from exc

    @property
    def experiment_id(self) -> str:
        """The experiment's id, the experiment created when missing."""
        if self._experiment_id is None:
            found = self._call("get experiment", self.client.get_experiment_by_name,
                               self.experiment)
            if found is not None:
                self._experiment_id = found.experiment_id
            else:
                location = None
                if self.uri.startswith("sqlite:///"):
                    location = (Path(self.uri[len("sqlite:///"):]).parent /
                                "mlartifacts").as_uri()
                self._experiment_id = self._call("create experiment",
                                                 self.client.create_experiment, self.experiment,
                                                 artifact_location=location)
        return self._experiment_id

    def find_runs(self, tags: dict[str, str]) -> list:
        """The experiment's runs (``mlflow.entities.Run``) whose tags have these values, oldest
        first (deleted runs left out)."""
        where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        runs, token = [], None
        while True:
            page = self._call("search runs", self.client.search_runs, [self.experiment_id],
                              filter_string=where, max_results=1000,
                              order_by=["attributes.start_time ASC"], page_token=token)
            runs += list(page)
            token = page.token
            if not token:
                return runs

    def create_run(self, name: str, tags: dict[str, str], parent_id: str | None = None,
                   start_s: float | None = None):
        """A new run ``name`` with ``tags`` (nested under ``parent_id``: MLflow's
        ``mlflow.parentRunId`` tag), started at ``start_s`` (Unix seconds; now if None)."""
        tags = dict(tags)
        if parent_id is not None:
            tags["mlflow.parentRunId"] = parent_id
        start = int(start_s * 1000) if start_s else None
        return self._call("create run", self.client.create_run, self.experiment_id,
                          start_time=start, tags=tags, run_name=name)

    def logged_epochs(self, run_id: str) -> set[int]:
        """The epochs already logged to the run (the steps of its ``epoch`` metric)."""
        history = self._call("read metric history", self.client.get_metric_history, run_id,
                             EPOCH_KEY)
        return {int(m.step) for m in history}

    def log_epochs(self, run_id: str, rows: Iterable[dict], keys, done: set[int]) -> int:
        """Logs the epochs of ``rows`` not in ``done`` (each row a dict with ``epoch``; its
        metrics are ``keys(row)``, finite numbers only) with ``step = epoch`` and the row's
        ``reported_at`` or ``timestamp`` as the time; adds them to ``done``. One epoch never
        spans two requests. Returns how many epochs it logged."""
        from mlflow.entities import Metric

        batch: list = []
        pending: list[int] = []
        logged = 0

        def flush() -> None:
            nonlocal logged
            if batch:
                self._call("log metrics", self.client.log_batch, run_id, metrics=list(batch))
                done.update(pending)
                logged += len(pending)
                batch.clear()
                pending.clear()

        for row in sorted(rows, key=lambda r: r["epoch"]):
            epoch = int(row["epoch"])
            if epoch in done:
                continue
            stamp = row.get("reported_at") or row.get("timestamp")
            ms = int(float(stamp) * 1000) if _finite(stamp) else int(time.time() * 1000)
            metrics = [Metric(k, float(row[k]), ms, epoch) for k in keys(row)
                       if k != EPOCH_KEY and _finite(row.get(k))]
            metrics.append(Metric(EPOCH_KEY, float(epoch), ms, epoch))
            if len(batch) + len(metrics) > MAX_METRICS_PER_BATCH:
                flush()
            batch += metrics
            pending.append(epoch)
        flush()
        return logged

    def log_params(self, run_id: str, params: dict[str, Any], logged: dict[str, str]) -> None:
        """Logs the ``params`` not yet in ``logged`` (MLflow's params cannot change once set),
        each value as text (at most ``MAX_PARAM_CHARS`` characters)."""
        from mlflow.entities import Param

        new = [Param(k, _param_text(v)) for k, v in params.items() if k not in logged]
        for i in range(0, len(new), MAX_PARAMS_PER_BATCH):
            self._call("log params", self.client.log_batch, run_id,
                       params=new[i:i + MAX_PARAMS_PER_BATCH])

    def log_values(self, run_id: str, values: dict[str, Any], at_s: float | None = None) -> None:
        """Logs single values, not curves (a best metric, test metrics), as metrics at step 0,
        stamped ``at_s`` (Unix seconds; now if None); values that are not finite numbers are
        left out."""
        from mlflow.entities import Metric

        stamp = int((time.time() if at_s is None else at_s) * 1000)
        metrics = [Metric(k, float(v), stamp, 0) for k, v in values.items() if _finite(v)]
        if metrics:
            self._call("log metrics", self.client.log_batch, run_id, metrics=metrics)

    def set_tags(self, run_id: str, tags: dict[str, str], current: dict[str, str]) -> None:
        """Sets the ``tags`` whose value differs from ``current`` (the run's tags as read)."""
        from mlflow.entities import RunTag

        changed = [RunTag(k, str(v)) for k, v in tags.items() if current.get(k) != str(v)]
        if changed:
            self._call("set tags", self.client.log_batch, run_id, tags=changed)

    def delete_run(self, run_id: str) -> None:
        """Deletes the run (MLflow keeps it in its trash until garbage-collected)."""
        self._call("delete run", self.client.delete_run, run_id)

    def set_status(self, run_id: str, status: str, current: str,
                   end_s: float | None = None) -> None:
        """Sets the run's status (RUNNING, FINISHED, FAILED, KILLED) when it is not ``current``;
        a terminal status gets the end time ``end_s`` (Unix seconds; now if None)."""
        if status == current:
            return
        if status == "RUNNING":
            self._call("set status", self.client.update_run, run_id, status=status)
        else:
            end = int(end_s * 1000) if end_s else None
            self._call("set status", self.client.set_terminated, run_id, status=status,
                       end_time=end)

    def log_text(self, run_id: str, text: str, name: str) -> None:
        """The artifact ``name`` (a file name, maybe in a folder) holding ``text``."""
        self._call(f"upload {name}", self.client.log_text, run_id, text, name)

    def log_file(self, run_id: str, path: Path, folder: str | None = None) -> None:
        """The file or folder ``path`` as an artifact (under ``folder`` when given)."""
        fn = self.client.log_artifacts if Path(path).is_dir() else self.client.log_artifact
        self._call(f"upload {Path(path).name}", fn, run_id, str(path), folder)


def _reason(exc: Exception) -> str:
    """A failed request's cause in a few words: MLflow wraps the network's error in a long
    message (URL, retries, the connection object)."""
    text = str(exc) or type(exc).__name__
    for needle, reason in (("Connection refused", "connection refused (is the server up?)"),
                           ("timed out", f"no answer within {TIMEOUT_S} s"),
                           ("Name or service not known", "unknown host"),
                           ("Failed to resolve", "unknown host")):
        if needle in text:
            return reason
    return text.splitlines()[0][:300]


def _param_text(v: Any) -> str:
    text = json.dumps(v) if isinstance(v, (list, dict)) else str(v)
    return text[:MAX_PARAM_CHARS]
