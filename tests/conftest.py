import fcntl
import json
import os
import shutil
import subprocess

import pytest
import torch

from core.config import config_from_dict

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def tiny_dict(**sections) -> dict:
    """A config that trains in well under a second on CPU; sections override per key."""
    base = {
        "experiment": {"device": "cpu", "seed": 0},
        "data": {"synthetic": {"num_samples": 180, "seq_len": 12, "num_channels": 3,
                               "num_motifs": 2}},
        "model": {"hidden_size": 8},
        "training": {"epochs": 2, "batch_size": 16, "log_interval": 3},
        "schedule": {"name": "cosine", "warmup_steps": 3},
    }
    for section, values in sections.items():
        node = base.setdefault(section, {})
        for k, v in values.items():
            if isinstance(v, dict) and isinstance(node.get(k), dict):
                node[k] = {**node[k], **v}
            else:
                node[k] = v
    return base


@pytest.fixture
def tiny():
    def make(**sections):
        return config_from_dict(tiny_dict(**sections), "<test>")

    return make


def task_splits(cfg, task_type: str):
    """The motif data of ``cfg.data`` with targets of another task type, built by hand.

    The labels are ordered motif pairs (first * M + second). binary: positive when both motifs
    are motif 0 (1 in M**2 sequences: imbalanced); multilabel: motif j occurs (M labels);
    regression: D=2 targets, 3 * first + 1 and 2 * second - 5, standardised with the train split.
    """
    import dataclasses

    from core.config import TaskConfig
    from core.data import load_data

    data = load_data(cfg.data, TaskConfig())  # multiclass motif pairs, re-labelled below
    m = cfg.data.synthetic.num_motifs

    def targets(y):
        first, second = y // m, y % m
        if task_type == "binary":
            return ((first == 0) & (second == 0)).float()
        if task_type == "multilabel":
            labels = torch.arange(m)
            return ((first[:, None] == labels) | (second[:, None] == labels)).float()
        if task_type == "regression":
            return torch.stack([3.0 * first + 1.0, 2.0 * second - 5.0], dim=1).float()
        return y

    raw = {name: targets(getattr(data, name).y) for name in ("train", "val", "test")}
    mean = std = None
    if task_type == "regression":
        mean, std = raw["train"].mean(0), raw["train"].std(0)
        raw = {k: (v - mean) / std for k, v in raw.items()}
    names = {"binary": ["other", "m0>m0"], "multilabel": [f"m{j}" for j in range(m)],
             "regression": ["t0", "t1"]}.get(task_type, data.class_names)
    parts = {k: dataclasses.replace(getattr(data, k), y=raw[k]) for k in raw}
    return dataclasses.replace(data, **parts, class_names=names, task=task_type,
                               target_mean=mean, target_std=std)


@pytest.fixture
def task_data():
    return task_splits


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """One MLflow tracking server (``tests.mlflow_server``) for every test that only logs to it
    and reads back (mlflow is in the dev extra: never skipped); tests that stop a server start
    their own."""
    from tests.mlflow_server import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow")).start()
    yield server
    server.stop()


def once_per_session(tmp_path_factory, name: str, make):
    """``make(folder)`` run once per test session, also when pytest-xdist runs the session in
    several worker processes (`make test`): the first worker to ask runs it under a file lock in
    the workers' common temporary folder, the others wait for it and share its result. ``make``
    returns what JSON can hold; ``folder`` (an empty directory) is shared, so tests that write
    into it copy it first. Returns (folder, what ``make`` returned)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # .../pytest-N/popen-gw0 -> .../pytest-N: one per session
    folder, done = root / f"shared-{name}", root / f"shared-{name}.json"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that failed halfway
            folder.mkdir()
            done.write_text(json.dumps(make(folder)))
        return folder, json.loads(done.read_text())


def completed(result: dict) -> subprocess.CompletedProcess:
    """A ``subprocess.CompletedProcess`` from ``finished(proc)``'s dict."""
    return subprocess.CompletedProcess(result["args"], result["returncode"], result["stdout"],
                                       result["stderr"])


def finished(proc: subprocess.CompletedProcess) -> dict:
    """``proc`` as a JSON-able dict (``once_per_session`` shares it between workers)."""
    return {"args": [str(a) for a in proc.args], "returncode": proc.returncode,
            "stdout": proc.stdout, "stderr": proc.stderr}
