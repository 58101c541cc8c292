"""The one reader of trial results: per-epoch histories, checkpoints, trials.csv rows.

A trial's ``result.json`` (written by Ray Tune) holds one JSON line per ``tune.report``. To save
round trips, ``tuning.execution._trainable`` batches the epochs between ASHA's rungs into the next
report under ``earlier_epochs``; ``unbatch`` expands them, and every reader here sees one row per
epoch. A trial resumed in a later run (``run-<k>``) has a directory there too: later runs' epochs
win. Epochs that a driver killed with kill -9 lost from result.json are recovered on resume from the
trial's checkpoint (``write_recovered``, called by ``tuning.execution._resume``) into
``recovered/<trial>.jsonl``, which every reader here merges under the run directories' rows.

This module imports neither Ray nor torch (torch only inside ``latest_checkpoint``), so the
report can use it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.files import atomic_write_text
from core.selection import best_epoch
from tuning.record._directory import (
    CHECKPOINT_FILE,
    PARAMS_FILE,
    RECOVERED_DIR,
    RESULT_FILE,
    TENSORBOARD_DIR,
    TEST_METRICS_FILE,
    TRIALS_CSV_FILE,
    trial_key,
    trial_store,
)
from tuning.record._trial_store import TrialStore, local_file
from tuning.space import SearchSpace

__all__ = ["EARLIER_EPOCHS", "STATUS", "best_trial", "checkpoint_test_metrics", "finite",
           "histories", "latest_checkpoint", "parse_results", "reported_epoch", "started_config",
           "started_params", "trial_best_epoch", "trial_history", "trial_rows", "trials_csv_text",
           "unbatch", "write_events", "write_recovered", "write_trials_csv"]

# The key under which a batched report carries the epochs it batched (tuning.execution._trainable).
EARLIER_EPOCHS = "earlier_epochs"

log = logging.getLogger("tuning")

# Optuna's trial states as trials.csv and the report name them.
STATUS = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "errored", "RUNNING": "running",
          "WAITING": "waiting"}


def finite(v: Any) -> bool:
    """A real, finite number (not a bool, not NaN or inf).

    Example:
        >>> [finite(x) for x in (1, 0.5, float("nan"), True, "1")]
        [True, True, False, False, False]
    """
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def best_trial(trials: list, mode: str):
    """The best of ``trials`` (Optuna ``FrozenTrial``s of one sweep): the COMPLETE or PRUNED
    trial whose best reported epoch is best by ``mode`` ("max" or "min"), the earlier trial on a
    tie; None if no such trial reported an epoch. Errored and non-finite trials are FAIL in the
    study and never chosen. (``tuning.export`` and ``tuning.Sweep.best`` both choose by it.)"""
    pick = max if mode == "max" else min
    eligible = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")
                and t.intermediate_values]
    if not eligible:
        return None
    return pick(eligible, key=lambda t: pick(t.intermediate_values.values()))


def reported_epoch(result: dict) -> dict:
    """A result without the epochs batched into it: the reported epoch's own row (a new dict).

    Example:
        >>> reported_epoch({"epoch": 3, "val_loss": 0.5, "earlier_epochs": [{"epoch": 1}]})
        {'epoch': 3, 'val_loss': 0.5}
    """
    return {k: v for k, v in result.items() if k != EARLIER_EPOCHS}


def unbatch(results: list[dict]) -> list[dict]:
    """Result rows as Tune stored them -> one row per epoch (batched epochs expanded, in order).

    Example:
        >>> unbatch([{"epoch": 3, "earlier_epochs": [{"epoch": 1}, {"epoch": 2}]}])
        [{'epoch': 1}, {'epoch': 2}, {'epoch': 3}]
    """
    rows = []
    for r in results:
        rows.extend(r.get(EARLIER_EPOCHS) or [])
        rows.append(reported_epoch(r))
    return rows


def parse_results(text: str) -> list[dict]:
    """The epoch rows of one ``result.json``'s text: unbatched, rows without an ``epoch``
    dropped, and a last line cut short by a crash ignored.

    Example:
        >>> parse_results('{"epoch": 2, "earlier_epochs": [{"epoch": 1}]}\\n{"epo')
        [{'epoch': 1}, {'epoch': 2}]
    """
    parsed = []
    for line in text.splitlines():
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return [r for r in unbatch(parsed) if "epoch" in r]


_PARSED: dict[str, tuple[tuple[int, int], list[dict]]] = {}  # result.json -> (stat, rows)


def _file_rows(store: TrialStore, path: str) -> list[dict]:
    """The epoch rows of one result.json, re-read only when its size or mtime changed: the
    driver refreshes trials.csv from every trial's file, and finished trials' files never
    change. Each row also names its trial directory (``_dir``)."""
    stamp = store.stat(path)
    if stamp is None:
        return []
    cached = _PARSED.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    rows = parse_results(store.read_text(path))
    for r in rows:
        r["_dir"] = path.rsplit("/", 1)[0]
    _PARSED[path] = (stamp, rows)
    return rows


def trial_history(exp_dir: Path, key: str) -> list[dict]:
    """Every epoch the trial ``key`` reported, across runs, in epoch order (a later run's row
    replaces an earlier one's; rows recovered from a checkpoint, ``write_recovered``, come
    first). Each row is the trial's report (metrics, timings) plus ``_dir``, its trial
    directory (a recovered row: the recovered folder). The rows are shared with a cache: read
    them, do not change them. (With a URI store, Tune uploads result.json files periodically and
    at the end of each run; the study has every epoch.)"""
    store = trial_store(exp_dir)
    recovered_path = Path(exp_dir) / RECOVERED_DIR / f"{key}.jsonl"
    recovered = {int(r["epoch"]): r for r in _file_rows(TrialStore(recovered_path.parent),
                                                        str(recovered_path))}
    rows: dict[int, dict] = dict(recovered)
    for d in store.trial_dirs(key):
        for r in _file_rows(store, f"{d}/{RESULT_FILE}"):
            e = int(r["epoch"])
            # A recovered row's extra keys (test metrics) survive a reported row of its epoch.
            rows[e] = {**recovered[e], **r} if e in recovered else r
    return [rows[e] for e in sorted(rows)]


def write_recovered(exp_dir: Path, key: str, rows: list[dict]) -> None:
    """Adds ``rows`` (epoch rows from the trial's checkpoint history, e.g. with its test
    metrics) to ``recovered/<key>.jsonl`` atomically, replacing rows of the same epochs; the
    epochs the run directories hold still win over them in ``trial_history``."""
    if not rows:
        return
    path = Path(exp_dir) / RECOVERED_DIR / f"{key}.jsonl"
    old = {int(r["epoch"]): r for r in parse_results(path.read_text())} if path.is_file() else {}
    old.update((int(r["epoch"]), {k: v for k, v in r.items() if k != "_dir"}) for r in rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(old[e]) + "\n" for e in sorted(old)))


def checkpoint_test_metrics(checkpoint: str) -> dict:
    """The test metrics saved next to a confirmation run's last checkpoint (``checkpoint``: the
    path or URI of its ``checkpoint.pt``, as ``latest_checkpoint`` gives it), or {} when there
    are none (a search trial, an earlier epoch, an empty test split)."""
    base, sep, query = checkpoint.partition("?")  # a URI's ?query stays at its end
    sibling = f"{base.rsplit('/', 1)[0]}/{TEST_METRICS_FILE}{sep}{query}"
    try:
        with tempfile.TemporaryDirectory(prefix="seqtune-") as tmp:
            metrics = json.loads(local_file(sibling, tmp).read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def histories(exp_dir: Path) -> dict[str, list[dict]]:
    """``trial_history`` of every trial on disk, by trial key (``t0000``, ...), in key order."""
    return {key: trial_history(exp_dir, key) for key in trial_store(exp_dir).trial_keys()}


def started_config(exp_dir: Path, key: str) -> dict | None:
    """The config Tune started the trial with (``params.json`` in its newest directory with one:
    ``params``, ``trial_key``, ``resume_from``, ``suggested_at``), or None."""
    store = trial_store(exp_dir)
    for d in reversed(store.trial_dirs(key)):
        try:
            config = json.loads(store.read_text(f"{d}/{PARAMS_FILE}"))
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and isinstance(config.get("params"), dict):
            return config
    return None


def started_params(exp_dir: Path, key: str) -> dict | None:
    """The parameters the trial was started with (``started_config``'s ``params``), or None."""
    config = started_config(exp_dir, key)
    return config["params"] if config is not None else None


def latest_checkpoint(exp_dir: Path, key: str) -> tuple[str | None, dict | None, int]:
    """The trial's newest verified checkpoint across runs (its path or URI), its state, and how
    many files failed to verify.

    A damaged checkpoint (truncated, empty, bit-flipped: its SHA-256 disagrees) is skipped with a
    warning naming it, and the newest older verified one is used instead.
    """
    from core.checkpoint import CheckpointError, load_checkpoint  # torch: only here

    store = trial_store(exp_dir)
    found = [f for d in store.trial_dirs(key) for f in store.checkpoint_files(d, CHECKPOINT_FILE)]
    best: tuple[str | None, dict | None] = (None, None)
    damaged = 0
    with tempfile.TemporaryDirectory(prefix="seqtune-") as tmp:
        for path in found:
            try:
                state = load_checkpoint(local_file(store.uri(path), tmp))
            except CheckpointError as exc:
                log.warning("skipping damaged checkpoint: %s",
                            f"{store.uri(path)}: {exc}" if store.remote else exc)
                damaged += 1
                continue
            if best[1] is None or state["epoch"] > best[1]["epoch"]:
                best = (store.uri(path), state)
    return best[0], best[1], damaged


def trial_best_epoch(values: dict[int, float], history: list[dict], metric: str,
                     mode: str) -> int | None:
    """The trial's best epoch by ``core.selection.best_epoch``, the rule of ``core.loop.fit``'s
    ``best_epoch`` and of best.pt: ``values`` is its ``metric`` per epoch (the study's
    intermediate values), ``history`` its rows on disk (``trial_history``), which give each
    epoch's ``val_loss`` for a tie on the metric (without them, as for a warm-started trial, a
    tie keeps the first epoch). None when ``values`` is empty.

    Example:
        >>> trial_best_epoch({1: 0.9, 2: 1.0, 3: 1.0}, [{"epoch": 2, "val_loss": 0.4},
        ...                  {"epoch": 3, "val_loss": 0.2}], "val_auroc", "max")
        3
    """
    losses = {int(r["epoch"]): r.get("val_loss") for r in history}
    rows = [{"epoch": e, metric: v, "val_loss": losses.get(e)} for e, v in sorted(values.items())]
    return best_epoch(rows, metric, mode)


def _checkpoint_near(store: TrialStore, history: list[dict], metric: str, epoch: int,
                     value: float) -> tuple[str, Any]:
    """The checkpoint of the best ``epoch`` where one was saved (trials save every
    checkpoint_interval_s and at their last epoch), else that of the latest epoch that scored
    the same ``value``, else the trial's newest; ("", "") if none. A row recovered from a
    checkpoint (``tuning.execution._resume``) names it by ``checkpoint_path``, verified when
    recovered."""
    saved = [r for r in history if r.get("checkpoint_dir_name") or r.get("checkpoint_path")]
    best_first = sorted(saved, key=lambda r: (r["epoch"] == epoch, r.get(metric) == value,
                                              r["epoch"]), reverse=True)
    for r in best_first:
        if r.get("checkpoint_dir_name"):
            folder = f"{r['_dir']}/{r['checkpoint_dir_name']}"
            if store.exists(folder):
                return store.uri(f"{folder}/{CHECKPOINT_FILE}"), r["epoch"]
        elif store.remote or Path(r["checkpoint_path"]).is_file():  # Tune may delete old ones
            return r["checkpoint_path"], r["epoch"]
    return "", ""


def trial_rows(study, exp_dir: Path, space: SearchSpace, *, phase: str = "search",
               key_of: Callable[[int], str] = trial_key) -> list[dict]:
    """One row per trial of ``study`` (an ``optuna.Study``), from the study (states, values,
    parameters) and the disk (checkpoints): the rows of trials.csv, in trial order. ``phase``
    and ``key_of`` name the study's phase and its trials (``tuning.confirm``: "confirm", c0000).

    Columns: trial, phase ("warm start" for a trial imported by ``--warm-start``), number,
    status (``STATUS``), epochs, best_<metric>, best_epoch (``trial_best_epoch``: a tie on the
    metric goes to the lower val_loss, as for best.pt),
    last_<metric>, failure, gpu, node, checkpoint (path or URI, "" if none; of the best epoch,
    for a confirmation run of its last), checkpoint_epoch,
    then ``confirms`` (a confirmation run: the search trial whose configuration it retrains),
    ``warm_start_from`` (an imported trial: the sweep it came from) and ``param:<dotted key>`` per
    parameter. Empty cells are "".
    """
    rows = []
    store = trial_store(exp_dir)
    for t in study.get_trials(deepcopy=False):
        key = key_of(t.number)
        values = t.intermediate_values
        history = trial_history(exp_dir, key) if values else []
        best = trial_best_epoch(values, history, space.metric, space.mode)
        checkpoint, checkpoint_epoch = "", ""
        if best is not None:
            # A confirmation run is scored (and exported) at its last epoch: that checkpoint.
            near = max(values) if phase == "confirm" else best
            checkpoint, checkpoint_epoch = _checkpoint_near(store, history, space.metric, near,
                                                            values[near])
        # A warm-started trial is an earlier sweep's result, imported: it trained nothing here.
        row = {"trial": key, "phase": "warm start" if "warm_start_from" in t.user_attrs else phase,
               "number": t.number,
               "status": STATUS.get(t.state.name, t.state.name),
               "epochs": max(values) if values else 0,
               f"best_{space.metric}": values[best] if best is not None else "",
               "best_epoch": best or "",
               f"last_{space.metric}": values[max(values)] if values else "",
               "failure": t.user_attrs.get("failure", ""),
               "gpu": t.user_attrs.get("gpu", ""), "node": t.user_attrs.get("node", ""),
               "checkpoint": checkpoint, "checkpoint_epoch": checkpoint_epoch}
        if "search_trial" in t.user_attrs:
            row["confirms"] = t.user_attrs["search_trial"]
        if "warm_start_from" in t.user_attrs:
            row["warm_start_from"] = t.user_attrs["warm_start_from"]
        for k, v in (t.user_attrs.get("params") or t.params).items():
            row[f"param:{k}"] = v
        rows.append(row)
    return rows


def trials_csv_text(rows: list[dict]) -> str:
    """``trial_rows`` as the text of trials.csv (columns in first-seen order)."""
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_trials_csv(study, exp_dir: Path, space: SearchSpace, confirm=None,
                     confirm_key: Callable[[int], str] | None = None) -> None:
    """Writes ``trial_rows`` to ``exp_dir/trials.csv`` atomically (``trials_csv_text``): the
    search's trials, then those of the ``confirm`` study (phase "confirm", named by
    ``confirm_key``) when there is one."""
    rows = trial_rows(study, exp_dir, space)
    if confirm is not None and confirm_key is not None:
        rows += trial_rows(confirm, exp_dir, space, phase="confirm", key_of=confirm_key)
    atomic_write_text(Path(exp_dir) / TRIALS_CSV_FILE, trials_csv_text(rows))


def write_events(exp_dir: Path, study, key_of: Callable[[int], str] = trial_key) -> None:
    """Every epoch of every trial of ``study`` into ``tensorboard/<trial>/``
    (``tuning.record._tensorboard``), from the unbatched histories (recovered epochs included);
    warm-started trials, which have none here, are left out. ``key_of`` names the trials
    (``tuning.confirm``'s runs: c0000, ...)."""
    from tuning.record._tensorboard import write_trial_events

    root = Path(exp_dir) / TENSORBOARD_DIR
    try:
        for t in study.get_trials(deepcopy=False):
            key = key_of(t.number)
            rows = trial_history(exp_dir, key)
            if rows:
                write_trial_events(root, key, rows)
    except (OSError, ImportError) as exc:
        log.warning("could not write the TensorBoard files: %s", exc)
        return
    log.info("TensorBoard, every epoch of every trial: tensorboard --logdir %s", root)
