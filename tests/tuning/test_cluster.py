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

import pytest

from tests.tuning.conftest import ROOT, SPACE, run_sweep

pytestmark = pytest.mark.slow  # end to end: real sweeps on Ray

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


def _stop(node: subprocess.Popen) -> None:
    """Stops a ``ray start --block`` node as ``ray stop`` does: SIGTERM to the command alone,
    which drains the node through the head's GCS and then ends its processes; then SIGKILL
    to whatever is left of its process group. (SIGTERM to the whole group kills the GCS
    before the drain can reach it, and the command then waits 30 s for it.)"""
    if node.poll() is None:
        node.terminate()
        try:
            node.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(node.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    node.wait(timeout=30)


def _wait_started(node: subprocess.Popen, log: Path, deadline: float) -> None:
    """Waits until ``ray start --block`` logged that its node is up (it prints this once the
    node has registered with the cluster); fails with the log's tail if the node exits."""
    while "Ray runtime started" not in log.read_text():
        assert node.poll() is None and time.time() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)


def test_smoke_sweep_runs_on_both_nodes_of_a_local_cluster(tmp_path):
    # Placement is decided by capacity, not left to timing: each node offers exactly one CPU
    # and a trial takes one. The sweep runs as many trials at once as there are CPUs, so its
    # two trials are created together and each can only be placed on a different node,
    # however loaded the machine is.
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    common = ["--node-ip-address=127.0.0.1", "--block", "--disable-usage-stats"]
    head_log, worker_log = tmp_path / "head.log", tmp_path / "worker.log"
    nodes = []
    try:
        deadline = time.time() + 180  # a generous bound against a hang, not a speed check
        nodes.append(subprocess.Popen(
            [RAY, "start", "--head", f"--port={port}", "--num-cpus=1",
             '--resources={"head_node": 1}', "--include-dashboard=false", *common], env=env,
            start_new_session=True, stdout=head_log.open("w"), stderr=subprocess.STDOUT))
        _wait_started(nodes[0], head_log, deadline)
        nodes.append(subprocess.Popen(
            [RAY, "start", f"--address={address}", "--num-cpus=1",
             '--resources={"worker_node": 1}', *common], env=env, start_new_session=True,
            stdout=worker_log.open("w"), stderr=subprocess.STDOUT))
        _wait_started(nodes[1], worker_log, deadline)
        while _cluster_cpus(address, env) < 2:
            assert nodes[1].poll() is None and time.time() < deadline, \
                worker_log.read_text()[-2000:]
            time.sleep(1)

        proc = run_sweep(["--space", str(SPACE), "--smoke", "--num-samples", "2",
                          "--storage-path", str(tmp_path), "--name", "c", "--address", address],
                         env=env, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        for node in reversed(nodes):  # the worker drains through the head: stop it first
            _stop(node)
    exp = tmp_path / "c"
    node_ids = set()
    for path in (exp / "tune").glob("run-0/t*/result.json"):
        for line in path.read_text().splitlines():
            node_ids.add(json.loads(line)["node_id"])
    # Trials ran on both nodes, and the cluster is gone.
    assert len(node_ids) == 2, node_ids
    assert all(n.poll() is not None for n in nodes)
