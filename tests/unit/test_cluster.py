"""Waiting for workers on a real LocalCluster, and for a controller to act."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from daskrun import context
from daskrun.cluster import PodsFailing, unless_pods_fail, wait_for_controller, wait_for_workers
from daskrun.errors import ClusterStartError, ExitCode


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


def test_a_scheduler_pod_that_cannot_pull_its_image_ends_the_start_within_seconds():
    # KubeCluster would wait for the scheduler pod until its timeout; the pods' verdict ends it.
    released = threading.Event()
    reason = "pod r-scheduler: ErrImagePull failed to pull ...: 401 Unauthorized"
    checks = []

    def problems():
        checks.append(time.monotonic())
        return [reason] if len(checks) >= 2 else []

    start = time.monotonic()
    with pytest.raises(PodsFailing, match="ErrImagePull.*401 Unauthorized"):
        unless_pods_fail(lambda: released.wait(60), problems, interval=0.1)
    assert time.monotonic() - start < 5
    released.set()


def test_the_start_returns_the_cluster_or_its_own_error_while_the_pods_are_fine():
    assert unless_pods_fail(lambda: "cluster", lambda: [], interval=0.05) == "cluster"

    def broken():
        raise TimeoutError("no scheduler within 120s")

    def api_down():
        raise OSError("connection refused")  # not the pods' failure: the start goes on

    with pytest.raises(TimeoutError, match="no scheduler"):
        unless_pods_fail(lambda: (time.sleep(0.3), broken()), api_down, interval=0.05)


def test_the_dask_pods_pull_policy_comes_from_the_chart(monkeypatch):
    monkeypatch.setenv(context.ENV_IMAGE_PULL_POLICY, "Always")
    assert context.from_flags(namespace="ns").image_pull_policy == "Always"
    monkeypatch.setenv(context.ENV_IMAGE_PULL_POLICY, "always")
    with pytest.raises(context.BadPullPolicy, match=f"{context.ENV_IMAGE_PULL_POLICY}: 'always'.*Always") as info:
        context.from_flags(namespace="ns")
    assert info.value.exit_code == ExitCode.BAD_CONFIG


def test_the_charts_pull_policies_are_the_runtimes():
    keys = json.loads((Path(__file__).parents[2] / "chart" / "schema" / "chart-keys.json").read_text())
    assert tuple(keys["properties"]["image"]["properties"]["pullPolicy"]["enum"]) == context.IMAGE_PULL_POLICIES
