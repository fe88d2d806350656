"""Waiting for workers on a real LocalCluster, and for a controller to act."""

from __future__ import annotations

import pytest
from distributed import Client, LocalCluster

from daskrun.cluster import wait_for_controller, wait_for_workers
from daskrun.errors import ClusterStartError


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


@pytest.mark.slow
def test_returns_once_the_workers_joined(client, caplog):
    caplog.set_level("INFO", logger="daskrun")
    wait_for_workers(client, 1, None, timeout=30)
    assert "workers joined: 1/1" in caplog.text


@pytest.mark.slow
def test_too_few_workers_is_a_cluster_that_did_not_come_up(client):
    with pytest.raises(ClusterStartError, match="only 1 of 2 workers joined within 0s") as info:
        wait_for_workers(client, 2, None, timeout=0)
    assert info.value.retried


def test_a_controller_that_never_acts_ends_the_start_naming_it():
    with pytest.raises(ClusterStartError, match=r"the installed dask operator did not act on the DaskCluster within 1s"):
        wait_for_controller(lambda: None, "the installed dask operator", timeout=1.0)


def test_the_start_goes_on_once_the_cluster_has_a_phase_and_not_before():
    phases = ["Pending", None, None]
    reads = []

    def read_phase():
        reads.append(phases.pop())
        return reads[-1]

    wait_for_controller(read_phase, "the embedded controller", timeout=30)
    assert reads == [None, None, "Pending"]  # it returned on the first phase, and only then
