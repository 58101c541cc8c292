"""The study's storage: SQLite on disk is the sweep's ledger; the driver reads a copy in memory.

Optuna's SQLite storage costs the driver CPU for every sampled parameter (SQLAlchemy reads the
running trials back each time); with trials of a few seconds on several GPUs, that made the
driver, not the GPUs, the limit of a sweep. ``MirroredStorage`` answers every read from an
in-memory copy, with identical samples; ``sqlite_storage`` puts the database in write-ahead-log
mode, which commits without an fsync per write.

Each write still goes through SQLAlchemy, on a trial's critical path: a trial waits for the driver
to take each report, and a report carries up to one write per batched epoch. So the copy in memory
takes each write first (it refuses exactly what SQLite would, e.g. a write to a finished trial, and
then nothing reaches the file), and a writer thread copies the writes to SQLite in order. Only new
trials are written at once, so the file always holds every trial Tune may have started; a driver
killed with ``kill -9`` can lose at most the writes still queued (milliseconds of them), which a
resumed sweep recovers from the trials on disk (``tuning.execution.reconcile``). A write SQLite
fails is raised at the next write, ``flush`` or ``close``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Container, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from tuning.errors import StudyWriteError
from tuning.study._optuna_internals import FrozenStudy, storage_study_id, storage_trial_id

__all__ = ["MirroredStorage", "StudyWriteError", "network_filesystem", "sqlite_storage"]

log = logging.getLogger(__name__)


# Filesystems on which SQLite's write-ahead log is unsafe: it needs shared memory that a network
# filesystem does not provide (https://sqlite.org/wal.html). These keep the rollback journal.
NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "afs", "9p", "lustre", "gpfs", "beegfs",
              "ceph", "glusterfs", "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.gcsfuse")


def network_filesystem(path: Path, mounts: str | None = None) -> bool:
    """Whether ``path`` lies on a network filesystem, by the longest matching mount point in
    ``mounts`` (the text of /proc/mounts; read when None, False where there is none)."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return False
    target = str(Path(path).resolve())
    best, fstype = "", ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, fstype = point, fields[2]
    return fstype in NETWORK_FS


def sqlite_storage(db: Path) -> optuna.storages.RDBStorage:
    """Optuna's storage on the SQLite file ``db``, in write-ahead-log mode with
    ``synchronous=NORMAL`` on local disks: a committed write survives the driver being killed
    (only an OS crash or power cut can lose the last commits; the database stays intact, and a
    resumed sweep reconciles the study with the trials on disk). On a network filesystem the
    database keeps SQLite's default rollback journal."""
    from sqlalchemy import event

    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    if network_filesystem(db):
        return storage

    @event.listens_for(storage.engine, "connect")
    def _pragmas(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    storage.engine.dispose()  # the connection Optuna opened to check the schema predates these
    return storage


class MirroredStorage(BaseStorage):
    """Reads come from a copy in memory; writes go to the copy, then to ``durable`` (new trials at
    once, the rest through a writer thread, in order).

    Only one process may write the study while a mirror is open (the sweep's lock file ensures
    it for the driver); readers such as ``tuning.report`` or optuna-dashboard open the SQLite
    file itself, and see the driver's writes once the writer thread has made them (``flush``
    waits for that).
    """

    def __init__(self, durable: BaseStorage):
        self.durable = durable
        self.memory = InMemoryStorage()
        self._study: dict[int, int] = {}  # memory study id -> durable study id
        self._trial: dict[int, int] = {}  # memory trial id -> durable trial id
        for s in durable.get_all_studies():
            sid = self.memory.create_new_study(s.directions, s.study_name)
            self._study[sid] = storage_study_id(s)
            for k, v in s.user_attrs.items():
                self.memory.set_study_user_attr(sid, k, v)
            for k, v in s.system_attrs.items():
                self.memory.set_study_system_attr(sid, k, v)
            for t in durable.get_all_trials(storage_study_id(s), deepcopy=False):
                tid = self.memory.create_new_trial(sid, template_trial=t)
                self._trial[tid] = storage_trial_id(t)
        self._start_writer()

    def __getstate__(self) -> dict:
        # Tune pickles its searcher (and so this study) into the experiment's state.
        self.flush()
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_queue", "_failed", "_writer")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._start_writer()

    def _start_writer(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._failed: BaseException | None = None
        self._writer = threading.Thread(target=self._drain, name="study-writer", daemon=True)
        self._writer.start()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._failed is None:
                    fn, args = item
                    try:
                        fn(*args)
                    except BaseException as exc:  # surfaced to the driver at its next write
                        self._failed = exc
                        log.error("study.db: a write failed (%s: %s); the sweep stops at its "
                                  "next write", type(exc).__name__, exc)
            finally:
                self._queue.task_done()

    def _check(self) -> None:
        if self._failed is not None:
            raise StudyWriteError(f"the study database failed a write: "
                                  f"{type(self._failed).__name__}: {self._failed}") \
                from self._failed

    def _later(self, fn: Callable, *args) -> None:
        self._queue.put((fn, args))

    def flush(self) -> None:
        """Waits until SQLite has every write made so far; raises ``StudyWriteError`` if one
        failed."""
        self._queue.join()
        self._check()

    def close(self) -> None:
        """Flushes, stops the writer thread and closes the database connections (SQLite then
        folds its write-ahead log back into the database file)."""
        try:
            self.flush()
        finally:
            if self._writer.is_alive():
                self._queue.put(None)
                self._writer.join()
            engine = getattr(self.durable, "engine", None)
            if engine is not None:
                engine.dispose()

    # Writes. Studies and new trials: flushed, then durable first (its ids and trial numbers
    # are the ones the copy must use). The rest: the copy first (it refuses what SQLite would),
    # then queued.

    def create_new_study(self, directions: Sequence[StudyDirection],
                         study_name: str | None = None) -> int:
        self.flush()
        did = self.durable.create_new_study(directions, study_name)
        sid = self.memory.create_new_study(directions, self.durable.get_study_name_from_id(did))
        self._study[sid] = did
        return sid

    def delete_study(self, study_id: int) -> None:
        self.flush()
        self.durable.delete_study(self._study[study_id])
        self.memory.delete_study(study_id)
        del self._study[study_id]

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self.flush()
        self.durable.set_study_user_attr(self._study[study_id], key, value)
        self.memory.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self.flush()
        self.durable.set_study_system_attr(self._study[study_id], key, value)
        self.memory.set_study_system_attr(study_id, key, value)

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        # Not queued: Tune may start the trial at once, and a resumed sweep must find it in the
        # file. The writer thread may be writing other trials meanwhile (SQLite serialises).
        self._check()
        did = self.durable.create_new_trial(self._study[study_id], template_trial)
        tid = self.memory.create_new_trial(study_id, template_trial)
        self._trial[tid] = did
        return tid

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        self._check()
        self.memory.set_trial_param(trial_id, param_name, param_value_internal, distribution)
        self._later(self.durable.set_trial_param, self._trial[trial_id], param_name,
                    param_value_internal, distribution)

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        self._check()
        changed = self.memory.set_trial_state_values(trial_id, state, values)
        if changed:
            self._later(self._durable_state, self._trial[trial_id], state, values,
                        self.memory.get_trial(trial_id).datetime_complete)
        return changed

    def _durable_state(self, durable_id: int, state: TrialState,
                       values: Sequence[float] | None, completed: datetime | None) -> None:
        if not self.durable.set_trial_state_values(durable_id, state, values):
            raise StudyWriteError(f"trial id {durable_id} was already {state.name} on disk")
        engine = getattr(self.durable, "engine", None)
        if completed is not None and engine is not None:
            # SQLite stamped the time of this write; the trial ended when the driver told it
            # (Optuna's schema: trials.datetime_complete, naive local time like Optuna's own).
            from sqlalchemy import text

            with engine.begin() as conn:
                conn.execute(text("UPDATE trials SET datetime_complete = :t WHERE trial_id = :i"),
                             {"t": completed, "i": durable_id})

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     intermediate_value: float) -> None:
        self._check()
        self.memory.set_trial_intermediate_value(trial_id, step, intermediate_value)
        self._later(self.durable.set_trial_intermediate_value, self._trial[trial_id], step,
                    intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._check()
        self.memory.set_trial_user_attr(trial_id, key, value)
        self._later(self.durable.set_trial_user_attr, self._trial[trial_id], key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._check()
        self.memory.set_trial_system_attr(trial_id, key, value)
        self._later(self.durable.set_trial_system_attr, self._trial[trial_id], key, value)

    # Reads: the copy in memory.

    def get_study_id_from_name(self, study_name: str) -> int:
        return self.memory.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self.memory.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self.memory.get_study_directions(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self.memory.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self.memory.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        return self.memory.get_all_studies()

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self.memory.get_trial(trial_id)

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self.memory.get_all_trials(study_id, deepcopy, states)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self.memory.get_trial_id_from_study_id_trial_number(study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self.memory.get_trial_number_from_id(trial_id)

    def get_n_trials(self, study_id: int,
                     state: tuple[TrialState, ...] | TrialState | None = None) -> int:
        return self.memory.get_n_trials(study_id, state)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        return self.memory.get_best_trial(study_id)

