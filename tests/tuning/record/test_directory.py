"""tuning.record._directory: names, the frozen spec, the driver's lock, the trial store."""

import os
import socket
import subprocess
import sys

from tuning.record import (
    LOCK_FILE,
    hold_lock,
    read_spec,
    running_pid,
    trial_key,
    trial_store,
    write_spec,
)


def test_trial_keys_sort_by_number():
    assert [trial_key(n) for n in (0, 7, 12)] == ["t0000", "t0007", "t0012"]


def test_the_lock_names_a_live_driver_and_ignores_a_stale_one(tmp_path):
    assert running_pid(tmp_path) is None
    with hold_lock(tmp_path):
        # This process's own lock never blocks it.
        assert (tmp_path / LOCK_FILE).is_file() and running_pid(tmp_path) is None
    assert not (tmp_path / LOCK_FILE).exists()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        (tmp_path / LOCK_FILE).write_text(f"{other.pid} {socket.gethostname()}\n")
        assert running_pid(tmp_path) == other.pid
        (tmp_path / LOCK_FILE).write_text(f"{other.pid} another-host\n")
        assert running_pid(tmp_path) is None  # a driver elsewhere cannot be checked
    finally:
        other.kill()
        other.wait()
    (tmp_path / LOCK_FILE).write_text(f"{other.pid} {socket.gethostname()}\n")
    assert running_pid(tmp_path) is None  # that process has ended
    assert os.path.exists(tmp_path / LOCK_FILE)


def test_the_trial_store_follows_the_frozen_spec(tmp_path):
    local, remote = tmp_path / "local", tmp_path / "remote"
    # No spec yet: the local tune folder.
    assert trial_store(local).root == str(local / "tune")
    write_spec(local, {"space": {}, "trial_storage": None})
    assert trial_store(local).root == str(local / "tune")
    uri = f"file://{tmp_path}/bucket/x/tune"
    write_spec(remote, {"space": {}, "trial_storage": uri})
    assert read_spec(remote)["trial_storage"] == uri
    store = trial_store(remote)
    assert store.remote and store.root == uri
