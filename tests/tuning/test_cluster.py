"""A sweep on a real two-node Ray cluster on loopback (`ray start --head` + `ray start
--address`), with token authentication; the cluster is stopped by the process groups it started."""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.tuning.conftest import ROOT, SPACE, run_sweep

RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster_cpus(address: str, env: dict) -> float:
    code = (f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
            "print(ray.cluster_resources().get('CPU', 0))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    try:
        return float(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0.0


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def test_smoke_sweep_runs_on_both_nodes_of_a_local_cluster(tmp_path):
    # Placement is decided by capacity, not left to timing: each node offers exactly one CPU
    # and a trial takes one, so the two trials that run at once (the sweep runs as many as
    # there are CPUs) are on different nodes, however loaded the machine is.
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    common = ["--node-ip-address=127.0.0.1", "--block", "--disable-usage-stats"]
    nodes = []
    try:
        nodes.append(subprocess.Popen(
            [RAY, "start", "--head", f"--port={port}", "--num-cpus=1",
             '--resources={"head_node": 1}', "--include-dashboard=false", *common], env=env,
            start_new_session=True, stdout=(tmp_path / "head.log").open("w"),
            stderr=subprocess.STDOUT))
        deadline = time.time() + 120
        while time.time() < deadline and _cluster_cpus(address, env) < 1:
            assert nodes[0].poll() is None, (tmp_path / "head.log").read_text()[-2000:]
            time.sleep(1)
        nodes.append(subprocess.Popen(
            [RAY, "start", f"--address={address}", "--num-cpus=1",
             '--resources={"worker_node": 1}', *common], env=env, start_new_session=True,
            stdout=(tmp_path / "worker.log").open("w"), stderr=subprocess.STDOUT))
        while time.time() < deadline and _cluster_cpus(address, env) < 2:
            assert nodes[1].poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(1)
        assert _cluster_cpus(address, env) == 2, (tmp_path / "worker.log").read_text()[-2000:]

        proc = run_sweep(["--space", str(SPACE), "--smoke", "--storage-path", str(tmp_path),
                          "--name", "c", "--address", address], env=env, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        for node in nodes:
            _stop(node)
    exp = tmp_path / "c"
    node_ids = set()
    for path in (exp / "tune").glob("run-0/t*/result.json"):
        for line in path.read_text().splitlines():
            node_ids.add(json.loads(line)["node_id"])
    # Trials ran on both nodes, and the cluster is gone.
    assert len(node_ids) == 2, node_ids
    assert all(n.poll() is not None for n in nodes)
