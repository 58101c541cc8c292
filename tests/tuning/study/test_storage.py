import sqlite3
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from tuning.study import MirroredStorage, StudyWriteError, network_filesystem, sqlite_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _workload(study: optuna.Study) -> None:
    """Asks, suggests, reports, attributes and tells, as the sweep's searcher does."""
    for i in range(12):
        trial = study.ask()
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        if trial.suggest_categorical("layers", [1, 2]) == 2:
            trial.suggest_float("dropout", 0.0, 0.5)
        trial.set_user_attr("i", i)
        for step in range(1, 1 + i % 4 + 1):
            trial.report(float(i * step), step)
        if i % 3 == 0:
            study.tell(trial, float(i))
        elif i % 3 == 1:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, state=TrialState.FAIL)
    study.ask()  # one left RUNNING


def _summary(study: optuna.Study) -> list[tuple]:
    return [(t.number, t.state, t.values, t.params, t.intermediate_values, t.user_attrs)
            for t in study.get_trials(deepcopy=False)]


@pytest.mark.parametrize("reopen", [False, True])
def test_mirror_writes_through_to_sqlite(tmp_path, reopen):
    db = tmp_path / "study.db"
    mirror = MirroredStorage(sqlite_storage(db))
    study = optuna.create_study(storage=mirror, study_name="s",
                                sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=3))
    _workload(study)
    if reopen:  # a second driver start loads the trials into a new copy and carries on
        mirror.close()
        mirror = MirroredStorage(sqlite_storage(db))
        study = optuna.load_study(study_name="s", storage=mirror)
        trial = study.ask()
        trial.report(1.0, 1)
        study.tell(trial, 1.0)
    # Once flushed, what the driver reads from memory is exactly what SQLite holds, trial
    # numbers included.
    mirror.flush()
    on_disk = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    assert _summary(on_disk) == _summary(study)
    assert len(on_disk.trials) == (14 if reopen else 13)


def test_mirror_samples_what_sqlite_alone_samples(tmp_path):
    # Same sampler, same seed: the in-memory reads change nothing the sampler sees.
    studies = []
    for storage in (sqlite_storage(tmp_path / "a.db"),
                    MirroredStorage(sqlite_storage(tmp_path / "b.db"))):
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(
            seed=1, n_startup_trials=4, multivariate=True, constant_liar=True))
        _workload(study)
        studies.append([t.params for t in study.trials])
    assert studies[0] == studies[1]


def test_a_refused_write_changes_neither_copy(tmp_path):
    db = tmp_path / "study.db"
    study = optuna.create_study(storage=MirroredStorage(sqlite_storage(db)), study_name="s")
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(RuntimeError):
        study._storage.set_trial_intermediate_value(trial._trial_id, 1, 5.0)
    assert study.trials[0].intermediate_values == {}
    study._storage.flush()  # nothing was queued: the flush has nothing to raise
    on_disk = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    assert on_disk.trials[0].intermediate_values == {}


def test_new_trials_reach_the_file_at_once_the_rest_by_flush(tmp_path):
    db = tmp_path / "study.db"
    mirror = MirroredStorage(sqlite_storage(db))
    study = optuna.create_study(storage=mirror, study_name="s")
    gate = threading.Event()
    mirror._later(gate.wait)  # holds the writer thread: every later write stays queued
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    trial.report(0.5, 1)
    on_disk = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    # Tune may start the trial now: a resumed sweep must find it in the file.
    assert [t.number for t in on_disk.trials] == [0] and on_disk.trials[0].params == {}
    gate.set()
    mirror.flush()
    on_disk = optuna.load_study(study_name="s", storage=f"sqlite:///{db}")
    assert on_disk.trials[0].params == trial.params and \
        on_disk.trials[0].intermediate_values == {1: 0.5}
    mirror.close()


class _FullDisk(optuna.storages.RDBStorage):
    def set_trial_intermediate_value(self, *args):
        raise OSError(28, "No space left on device")


def test_a_write_the_file_fails_stops_the_next_write_and_close(tmp_path):
    mirror = MirroredStorage(_FullDisk(f"sqlite:///{tmp_path / 'study.db'}"))
    study = optuna.create_study(storage=mirror, study_name="s")
    trial = study.ask()
    trial.report(0.5, 1)  # accepted by the copy; fails in the writer thread
    with pytest.raises(StudyWriteError, match="No space left on device"):
        mirror.flush()
    with pytest.raises(StudyWriteError):
        study.tell(trial, 0.5)
    with pytest.raises(StudyWriteError):
        mirror.close()
    assert not mirror._writer.is_alive()


def test_local_database_uses_the_write_ahead_log(tmp_path):
    db = tmp_path / "study.db"
    storage = sqlite_storage(db)
    optuna.create_study(storage=storage, study_name="s").ask()
    storage.engine.dispose()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


MOUNTS = """\
/dev/nvme0n1p1 / ext4 rw,relatime 0 0
server:/export /mnt/shared nfs4 rw,relatime 0 0
/dev/sdb1 /mnt/shared/local\\040disk xfs rw 0 0
tmpfs /tmp tmpfs rw 0 0
"""


@pytest.mark.parametrize("path, network", [
    ("/home/u/runs", False),
    ("/mnt/shared", True),
    ("/mnt/shared/sweeps/x/study.db", True),
    ("/mnt/sharedother/x", False),  # a prefix of the mount point's name is not inside it
    ("/mnt/shared/local disk/x", False),  # a local disk mounted inside the share
    ("/tmp/x", False),
])
def test_network_filesystem_by_longest_mount_point(path, network):
    assert network_filesystem(path, MOUNTS) is network


def test_mirror_pickles_flushed_with_a_writer_of_its_own(tmp_path):
    # Tune pickles the searcher, and with it the study, into its experiment state.
    import pickle

    mirror = MirroredStorage(sqlite_storage(tmp_path / "study.db"))
    study = optuna.create_study(storage=mirror, study_name="s")
    study.ask().report(0.5, 1)
    copy = pickle.loads(pickle.dumps(mirror))
    assert copy._writer.is_alive() and copy._writer is not mirror._writer
    on_disk = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert on_disk.trials[0].intermediate_values == {1: 0.5}  # pickling flushed
    copy.close()
    mirror.close()


def test_the_file_keeps_when_a_trial_ended_not_when_it_was_written(tmp_path):
    db = tmp_path / "study.db"
    mirror = MirroredStorage(sqlite_storage(db))
    study = optuna.create_study(storage=mirror, study_name="s")
    trial = study.ask()
    gate = threading.Event()
    mirror._later(gate.wait)
    study.tell(trial, 1.0)
    time.sleep(0.3)  # the write waits in the queue
    gate.set()
    mirror.flush()
    on_disk = optuna.load_study(study_name="s", storage=f"sqlite:///{db}").trials[0]
    assert on_disk.datetime_complete == study.trials[0].datetime_complete
    # Created in the file at once (not queued behind the gate), then in memory: the file's start
    # is never the later one, however long the machine takes between the two.
    assert on_disk.datetime_start <= study.trials[0].datetime_start
    mirror.close()
