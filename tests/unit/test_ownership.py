"""Who owns the Dask cluster: the launcher's Job, read from its pod through the real client from a (fake) API server."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fake_kube import pod

from daskrun import ownership
from daskrun.context import MAX_NAME, RunContext
from daskrun.errors import ExitCode, OwnershipError

JOB_UID = "0b7c6a52-job"


@pytest.fixture
def kube(fake_api):
    return fake_api


def launcher_pod(name: str = "bench-r1-abcde", owned_by_job: bool = True) -> dict:
    raw = pod(name, "bench-r1", "Running")
    raw["metadata"]["uid"] = "pod-uid-1"
    if owned_by_job:
        raw["metadata"]["ownerReferences"] = [
            {"apiVersion": "batch/v1", "kind": "Job", "name": "bench-r1", "uid": JOB_UID, "controller": True}]
    return raw


def test_the_launchers_job_owns_the_cluster_which_is_named_after_it(kube):
    kube.pods.append(launcher_pod())
    context = ownership.owned_by_launcher(RunContext(namespace="runs", pod_name="bench-r1-abcde", name="random-1"))
    assert context.owner == {"apiVersion": "batch/v1", "kind": "Job", "name": "bench-r1", "uid": JOB_UID,
                             "blockOwnerDeletion": False, "controller": False}
    assert context.job_uid == JOB_UID
    assert context.name == "bench-r1"  # every pod of the Job finds the same cluster


def test_a_pod_without_a_job_leaves_the_cluster_without_an_owner(kube, caplog):
    kube.pods.append(launcher_pod(owned_by_job=False))
    assert ownership.launcher_identity("bench-r1-abcde", "runs") is None
    assert "not owned by a Job" in caplog.text
    context = RunContext(namespace="runs", pod_name="bench-r1-abcde", name="random-1")
    assert ownership.owned_by_launcher(context) is context


@given(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True))
def test_a_cluster_name_from_any_job_name_is_a_short_dns_label_and_stable(job_name):
    name = ownership.job_cluster_name(job_name)
    assert len(name) <= MAX_NAME
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    assert name == ownership.job_cluster_name(job_name)
    if len(job_name) <= MAX_NAME:
        assert name == job_name


def test_long_job_names_that_share_a_start_get_different_clusters():
    base = "a" * 60
    assert ownership.job_cluster_name(base + "-r1") != ownership.job_cluster_name(base + "-r2")


def test_outside_a_pod_there_is_no_owner(caplog):
    context = RunContext(namespace="runs")
    assert ownership.owned_by_launcher(context) is context
    assert "not running in a pod" in caplog.text


def test_a_missing_pod_is_a_configuration_error(kube):
    with pytest.raises(OwnershipError, match="DASKRUN_POD_NAME='gone': no such pod in namespace 'runs'") as info:
        ownership.launcher_identity("gone", "runs")
    assert info.value.exit_code == ExitCode.BAD_CONFIG


def test_a_forbidden_read_names_the_missing_permission_and_the_servers_message(kube):
    kube.forbidden_pods = True
    with pytest.raises(OwnershipError, match=r"is forbidden: User cannot get; the ServiceAccount needs 'get' on pods"):
        ownership.launcher_identity("bench-r1-abcde", "runs")


def test_no_credentials_at_all_is_an_ownership_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(OwnershipError, match="cannot read this launcher's pod runs/p"):
        ownership.launcher_identity("p", "runs")


def test_an_owner_already_given_is_kept():
    context = RunContext(owner={"kind": "Pod", "name": "x"}, pod_name="p")
    assert ownership.owned_by_launcher(context) is context


def test_only_a_claim_a_node_directory_or_nfs_outlive_the_launcher_pod(kube):
    raw = launcher_pod()
    raw["spec"] = {
        "containers": [
            {"name": "daskrun", "volumeMounts": [
                {"name": "out", "mountPath": "/results"}, {"name": "home", "mountPath": "/home/daskrun"},
                {"name": "node", "mountPath": "/node"}, {"name": "share", "mountPath": "/share"},
                {"name": "config", "mountPath": "/etc/daskrun"}]},
            {"name": "sidecar", "volumeMounts": [{"name": "other", "mountPath": "/other"}]},
        ],
        "volumes": [
            {"name": "out", "persistentVolumeClaim": {"claimName": "results"}},
            {"name": "home", "emptyDir": {}},
            {"name": "node", "hostPath": {"path": "/srv"}},
            {"name": "share", "nfs": {"server": "nfs.example", "path": "/x"}},
            {"name": "config", "configMap": {"name": "c"}},
            {"name": "other", "persistentVolumeClaim": {"claimName": "not-the-launchers"}},
        ],
    }
    kube.pods.append(raw)
    context = ownership.owned_by_launcher(RunContext(namespace="runs", pod_name="bench-r1-abcde", name="random-1"))
    assert context.lasting_mounts == ("/results", "/node", "/share")


def test_outside_a_job_nothing_is_said_of_lasting_mounts(kube):
    kube.pods.append(launcher_pod(owned_by_job=False))
    context = RunContext(namespace="runs", pod_name="bench-r1-abcde", name="random-1")
    assert ownership.owned_by_launcher(context).lasting_mounts is None
