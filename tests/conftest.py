import os

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


@pytest.fixture(scope="session", autouse=True)
def _start_shared_runs(request, tmp_path_factory):
    """Starts the shared runs (tests/shared_runs.py) that this session's tests use, in the
    background, before its first test."""
    from tests import shared_runs

    used = {name for item in request.session.items for name in item.fixturenames}
    for name in sorted(used & shared_runs.registered()):
        shared_runs.start(tmp_path_factory, name)


# Module-scoped fixtures that run a sweep in the test process (tests/tuning/test_api.py): their
# tests go first, where no other worker steals them, so that the sweep runs once.
FIRST = ("demo",)


def pytest_collection_modifyitems(config, items):
    # In a pytest-xdist worker (`make test`), the slow end-to-end tests first: a worker that runs
    # out of tests steals from the end of another's queue, so both then end on short tests
    # instead of one waiting for the other's last sweep. (Every worker sorts alike.)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: (not any(f in item.fixturenames for f in FIRST),
                                     item.get_closest_marker("slow") is None))
