"""Waiting for workers on a real LocalCluster, and reading why dask pods fail from their API objects."""

from __future__ import annotations

import pytest
from distributed import Client, LocalCluster

from daskrun.cluster import RUNTIME_START_RETRIES, pod_problems, wait_for_controller, wait_for_workers
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


def _pod(*statuses: dict) -> dict:
    return {"status": {"containerStatuses": list(statuses)}}


def test_a_healthy_pod_has_no_problem():
    running = {"name": "worker", "state": {"running": {}}}
    assert pod_problems("w-1", _pod(running), lambda previous: "") == []
    assert pod_problems("w-1", {"status": {}}, lambda previous: "") == []


def test_an_image_that_cannot_be_pulled_is_named_with_the_kubelets_message():
    waiting = {"name": "worker", "state": {"waiting": {"reason": "ImagePullBackOff",
                                                       "message": 'Back-off pulling image "nope:1"'}}}
    [problem] = pod_problems("w-1", _pod(waiting), lambda previous: "")
    assert problem == 'pod w-1: ImagePullBackOff Back-off pulling image "nope:1"'


def test_a_transient_waiting_reason_is_not_a_problem():
    creating = {"name": "worker", "state": {"waiting": {"reason": "ContainerCreating"}}}
    assert pod_problems("w-1", _pod(creating), lambda previous: "") == []


def test_a_container_that_exited_carries_its_code_and_log_tail():
    exited = {"name": "worker", "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}
    asked = []

    def logs(previous: bool) -> str:
        asked.append(previous)
        return "" if previous else "Traceback\nModuleNotFoundError: No module named 'x'"

    [problem] = pod_problems("w-1", _pod(exited), logs)
    assert problem.startswith("pod w-1: exited Error (exit code 3)\n    last log lines:\n    Traceback")
    assert asked == [False]  # down right now: its own log first


def test_a_restarted_container_shows_the_previous_instances_log():
    crashing = {"name": "worker", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    logs = {True: "setup failed: step 'pip_packages'", False: ""}
    [problem] = pod_problems("w-1", _pod(crashing), lambda previous: logs[previous])
    assert "CrashLoopBackOff back-off (exit code 1)" in problem
    assert "setup failed: step 'pip_packages'" in problem


def test_an_unreadable_log_leaves_the_reason():
    exited = {"name": "worker", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}

    def logs(previous: bool) -> str:
        raise ConnectionError("kubelet unreachable")

    assert pod_problems("w-1", _pod(exited), logs) == ["pod w-1: exited OOMKilled (exit code 137)"]


def test_a_container_the_runtime_failed_to_start_once_is_left_to_the_kubelets_retry():
    failed = {"name": "worker", "restartCount": 0,
              "state": {"terminated": {"exitCode": 128, "reason": "StartError",
                                       "message": "failed to create containerd task: broken pipe"}}}
    assert pod_problems("w-1", _pod(failed), lambda previous: "") == []
    restarted = {"name": "worker", "restartCount": 1, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 128, "reason": "StartError"}}}
    assert pod_problems("w-1", _pod(restarted), lambda previous: "") == []


def test_a_container_the_runtime_keeps_failing_to_start_is_a_problem():
    again = {"name": "worker", "restartCount": RUNTIME_START_RETRIES, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 128, "reason": "StartError"}}}
    [problem] = pod_problems("w-1", _pod(again), lambda previous: "")
    assert problem == "pod w-1: exited StartError (exit code 128)"
    backing_off = {"name": "worker", "restartCount": 1,
                   "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                   "lastState": {"terminated": {"exitCode": 128, "reason": "StartError"}}}
    [problem] = pod_problems("w-1", _pod(backing_off), lambda previous: "")
    assert problem.startswith("pod w-1: CrashLoopBackOff back-off (exit code 128)")


def test_a_controller_that_never_acts_ends_the_start_naming_it():
    with pytest.raises(ClusterStartError, match=r"the installed dask operator did not act on the DaskCluster within 1s"):
        wait_for_controller(lambda: None, "the installed dask operator", timeout=1.0)


def test_the_start_goes_on_once_the_cluster_has_a_phase():
    phases = iter([None, None, "Pending"])
    wait_for_controller(lambda: next(phases), "the embedded controller", timeout=30)
