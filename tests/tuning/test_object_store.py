"""A sweep whose trials live in an object store: a local S3 server (moto), killed and resumed."""

import csv
import json
import os
import subprocess
import sys

import moto.server as moto_server  # the dev extra: an S3 endpoint on loopback
import pyarrow.fs as pafs
import pytest

from tests.tuning.conftest import ROOT, SPACE, held, kill_when, run_sweep
from tuning import sweep
from tuning.study import load_study

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
               "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """An S3 endpoint on loopback with one bucket; yields (URI prefix, filesystem)."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    old = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    fs = pafs.S3FileSystem(endpoint_override=f"{host}:{port}", scheme="http",
                           region="us-east-1", allow_bucket_creation=True)
    fs.create_dir("bucket")
    try:
        yield f"s3://bucket/sweeps?endpoint_override={host}:{port}&scheme=http&region=us-east-1", fs
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _files(fs, prefix):
    return [i.path for i in fs.get_file_info(pafs.FileSelector(prefix, recursive=True,
                                                               allow_not_found=True))]


@pytest.mark.slow
def test_killed_sweep_on_s3_resumes_from_its_checkpoints_there(s3, tmp_path):
    uri, fs = s3
    # The ledger of a URI sweep lives in runs/sweeps/<name> under the working directory.
    ledger = tmp_path / "runs" / "sweeps" / "s3-kill"
    env = {**os.environ, **CREDENTIALS, "PYTHONPATH": str(ROOT),
           **held(tmp_path / "faults", "t0006", "t0007")}
    proc = subprocess.Popen([sys.executable, "-m", "tuning.sweep", "--space", str(SPACE),
                             "--smoke", "--storage-path", uri, "--name", "s3-kill"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    # Kill the driver once 3 trials finished and a running one has reported an epoch (and
    # written its checkpoint to the bucket: the smoke sweep saves every epoch).
    kill_when(ledger, proc, lambda ts: sum(t.state.is_finished() for t in ts) >= 3 and any(
        t.intermediate_values and not t.state.is_finished() for t in ts))
    before = {t.number: dict(t.intermediate_values) for t in load_study(ledger).trials
              if t.state.is_finished()}
    assert 3 <= len(before) < 8, "the kill should land mid-sweep"
    checkpoints = [p for p in _files(fs, "bucket/sweeps/s3-kill/tune")
                   if p.endswith("/checkpoint.pt")]
    assert checkpoints, "trials write their checkpoints to the bucket"
    assert not (ledger / "tune").exists(), "no trial files on the local disk"

    resumed = run_sweep(["--resume", str(ledger)], env={**CREDENTIALS, "PYTHONPATH": str(ROOT)},
                        cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    study = load_study(ledger)
    assert len(study.trials) == 8 and all(t.state.is_finished() for t in study.trials)
    for number, values in before.items():
        assert study.trials[number].intermediate_values == values
    log = (ledger / "sweep.log").read_text()
    # A trial running at the kill continued from a checkpoint it had written to the bucket.
    continued = [line for line in log.splitlines() if "continues after epoch" in line]
    assert continued, log
    key = continued[0].split()[1].rstrip(":")
    rows = [json.loads(line) for line in fs.open_input_stream(
        f"bucket/sweeps/s3-kill/tune/run-1/{key}/result.json").read().decode().splitlines()]
    assert rows[0]["start_epoch"] >= 1
    # trials.csv names checkpoints by URI; the ledger is copied next to the trials.
    rows = list(csv.DictReader((ledger / "trials.csv").open()))
    assert len(rows) == 8
    assert all(r["checkpoint"].startswith("s3://bucket/sweeps/s3-kill/tune/run-")
               for r in rows if r["checkpoint"])
    assert any(r["checkpoint"] for r in rows)
    published = _files(fs, "bucket/sweeps/s3-kill")
    for name in ("sweep.yaml", "study.db", "trials.csv", "best_config.yaml", "sweep.log"):
        assert f"bucket/sweeps/s3-kill/{name}" in published


def test_unwritable_object_store_exits_2_and_writes_nothing(s3, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A bucket that does not exist (and may not be created): the sweep stops before any trial
    # and before any local file.
    uri = s3[0].replace("s3://bucket/", "s3://no-such-bucket/")
    code = sweep.main(["--space", str(SPACE), "--smoke", "--storage-path", uri,
                       "--name", "unwritable"])
    assert code == 2 and "--storage-path: cannot write to s3://no-such-bucket/sweeps/unwritable/" \
        "tune" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
