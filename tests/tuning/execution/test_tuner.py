"""tuning.execution._tuner: how the sweep starts Ray (the Tune run itself: test_sweep.py and the
fault tests)."""

import logging
import os

import pytest

from tuning.execution import WORKER_PRELOAD, RayOptions, ray_init_kwargs


@pytest.fixture(autouse=True)
def _own_environ(monkeypatch):
    # ray_init_kwargs prepares the environment the workers inherit: keep it to this test.
    monkeypatch.setattr(os, "environ", os.environ.copy())


def test_a_sweep_starts_its_own_local_ray_with_preloaded_workers():
    kwargs = ray_init_kwargs(RayOptions())
    assert kwargs["address"] == "local" and kwargs["include_dashboard"] is False
    assert kwargs["logging_level"] == logging.WARNING
    assert kwargs["_system_config"] == {"preload_python_modules": list(WORKER_PRELOAD)}
    assert "num_cpus" not in kwargs and "dashboard_host" not in kwargs


def test_joining_a_cluster_leaves_its_workers_and_cpus_alone():
    kwargs = ray_init_kwargs(RayOptions(address="auto", smoke=True))
    assert kwargs["address"] == "auto"
    assert "_system_config" not in kwargs and "num_cpus" not in kwargs


def test_smoke_uses_at_least_two_cpus_and_the_dashboard_binds_to_localhost():
    kwargs = ray_init_kwargs(RayOptions(smoke=True, dashboard=True, dashboard_port=9000))
    assert kwargs["num_cpus"] >= 2
    assert (kwargs["include_dashboard"], kwargs["dashboard_host"], kwargs["dashboard_port"]) == \
        (True, "127.0.0.1", 9000)
