"""End-to-end fixtures: a real cluster ($KUBECONFIG), real helm and kubectl, one namespace per test.

Servers the pods must reach (S3, a git repository, a wheel) run on this host, bound to the
node's address, which pods reach through the node's network.

pytest-helm-charts (the design's choice for chart tests in clusters), and where it fits:
- used: its `ExistingCluster` connects to the cluster of $KUBECONFIG (`kube_client` below),
  and its `wait_for_objects_condition` waits for a run's Job (`Release.wait`); its
  `failure_condition_func` expresses a Job that *fails*, which `wait_for_jobs_to_complete`
  (Complete only, and only the first condition) cannot.
- not used: its `kube_cluster` fixture is module-scoped, so the session fixtures here (the
  node's address, the S3 server) cannot depend on it; its `namespace_factory` waits for each
  namespace's deletion, minutes of e2e time per test with Dask pods terminating, where this
  suite deletes without waiting and dumps events and logs of a failing test first.
- hand-written (`wait_until`): conditions that are not one object's state -- the CRDs being
  Established, a namespace empty of DaskClusters or pods, a log line.
Its plugin (fixtures for Flux and Giant Swarm's app platform) is not loaded (`-p
no:helm-charts` in pyproject.toml): only its functions are used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pykube
import pytest
import yaml
from pytest_helm_charts.clusters import ExistingCluster
from pytest_helm_charts.errors import ObjectStatusError
from pytest_helm_charts.utils import wait_for_objects_condition

from cluster_tools import (
    CHART,
    IMAGE_REPOSITORY,
    IMAGE_TAG,
    JOB_TIMEOUT,
    create_namespace,
    delete_namespace,
    helm,
    internal_ip,
    kjson,
    kubectl,
    namespace_name,
    wait_until,
)
from counter_server import Counter
from servers import BackgroundServer, free_port, moto_s3


@pytest.fixture(scope="session")
def cluster():
    """The cluster under test; fails clearly when there is none."""
    if not os.environ.get("KUBECONFIG"):
        pytest.fail("KUBECONFIG is not set: run `make e2e`, which brings up the local cluster")
    nodes = kjson("get", "nodes")["items"]
    assert nodes, "the cluster has no nodes"
    crd = kubectl("get", "crd", "daskclusters.kubernetes.dask.org", check=False)
    if crd.returncode != 0:
        # The CRDs are normally installed by the first `helm install` (chart/crds); install them
        # up front so tests may run in any order.
        kubectl("apply", "--server-side", "-f", str(CHART / "crds"))
        crds = ("daskclusters", "daskworkergroups", "daskautoscalers")

        def established():
            for crd in crds:
                status = kjson("get", "crd", f"{crd}.kubernetes.dask.org").get("status") or {}
                if not any(c["type"] == "Established" and c["status"] == "True"
                           for c in status.get("conditions") or []):
                    return False
            return True

        wait_until(established, 60, interval=1, what="the dask CRDs to be established")
    return nodes


@pytest.fixture(scope="session")
def kube_client(cluster) -> Any:
    """pytest-helm-charts' connection to the cluster of $KUBECONFIG (a pykube HTTPClient)."""
    connection = ExistingCluster(os.environ["KUBECONFIG"])
    yield connection.create()
    connection.destroy()


def _job_condition(job: Any, kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True"
               for c in (job.obj.get("status") or {}).get("conditions") or [])


@pytest.fixture(scope="session")
def host_ip(cluster) -> str:
    """An address of this host that pods reach: the node's InternalIP unless overridden."""
    if os.environ.get("DASKRUN_E2E_HOST_IP"):
        return os.environ["DASKRUN_E2E_HOST_IP"]
    address = internal_ip(cluster[0])
    if not address:
        pytest.fail("the node has no InternalIP; set DASKRUN_E2E_HOST_IP")
    return address


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def dump_namespace(namespace: str) -> str:
    """Events, pods, logs and dask resources of a namespace, for a failing test's report."""
    parts = []
    for args in (["get", "events", "--sort-by=.lastTimestamp"], ["get", "pods", "-o", "wide"],
                 ["get", "jobs,daskclusters,daskworkergroups,daskautoscalers,deployments,services"]):
        parts.append(f"$ kubectl -n {namespace} {' '.join(args)}\n" + kubectl("-n", namespace, *args, check=False).stdout)
    pods = kubectl("-n", namespace, "get", "pods", "-o", "name", check=False).stdout.split()
    for pod in pods:
        # Whole logs (a failed Dask start is nanny, worker process and traceback), and the
        # instance before a restart: a worker the kubelet restarted shows why it failed there.
        logs = kubectl("-n", namespace, "logs", pod, "--all-containers", "--tail=400", check=False)
        parts.append(f"--- logs {pod}\n{logs.stdout}{logs.stderr}")
        before = kubectl("-n", namespace, "logs", pod, "--all-containers", "--previous", "--tail=400", check=False)
        if before.stdout.strip():
            parts.append(f"--- logs {pod} --previous\n{before.stdout}")
    return "\n".join(parts)


class Namespace(str):
    pass


@pytest.fixture
def namespace(request, cluster):
    """A fresh namespace per test (labelled with an indirect parameter's dict), deleted afterwards."""
    name = create_namespace(namespace_name("e2e", request.node.name), getattr(request, "param", None))
    yield Namespace(name)
    dump_if_failed(request, name)
    delete_namespace(name)


def dump_if_failed(request, namespace: str) -> None:
    """Once per failing test, before anything of it is uninstalled (its pods would be gone)."""
    failed = getattr(request.node, "rep_call", None)
    if failed is None or not failed.failed or getattr(request.node, "dumped", False):
        return
    request.node.dumped = True
    print(f"\n===== dump of namespace {namespace} =====\n{dump_namespace(namespace)}", file=sys.stderr)


class Release:
    """One Helm release of the chart in a test namespace."""

    def __init__(self, name: str, namespace: str, tmp_path: Path, kube_client: Any):
        self.kube_client = kube_client
        self.name = name
        self.namespace = namespace
        self.tmp_path = tmp_path
        self.revision = 0

    def values(self, config: dict, **chart: Any) -> Path:
        values = {"image": {"repository": IMAGE_REPOSITORY, "tag": IMAGE_TAG, "pullPolicy": "IfNotPresent"}}
        values.update(config)
        values.update(chart)
        path = self.tmp_path / f"{self.name}-values-{self.revision + 1}.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    def install(self, config: dict, *extra: str, check: bool = True, **chart: Any):
        result = helm("upgrade", "--install", self.name, str(CHART), "-n", self.namespace,
                      "-f", str(self.values(config, **chart)), *extra, check=check)
        if result.returncode == 0:
            self.revision += 1
        return result

    def uninstall(self):
        return helm("uninstall", self.name, "-n", self.namespace, "--wait", "--timeout", "180s")

    def job_name(self, revision: int | None = None) -> str:
        jobs = kjson("-n", self.namespace, "get", "jobs", "-l",
                     f"app.kubernetes.io/instance={self.name},daskrun.io/revision={revision or self.revision}")["items"]
        assert len(jobs) == 1, f"expected exactly one Job for revision {revision or self.revision}, got {len(jobs)}"
        return jobs[0]["metadata"]["name"]

    def job(self, revision: int | None = None) -> dict:
        return kjson("-n", self.namespace, "get", "job", self.job_name(revision))

    def wait(self, revision: int | None = None, timeout: float = JOB_TIMEOUT) -> str:
        """'Complete' or 'Failed', whichever the Job reaches."""
        name = self.job_name(revision)
        try:
            wait_for_objects_condition(
                self.kube_client, pykube.Job, [name], self.namespace,
                lambda job: _job_condition(job, "Complete"), int(timeout), missing_ok=False,
                failure_condition_func=lambda job: _job_condition(job, "Failed"),
            )
        except ObjectStatusError:
            return "Failed"
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for job {name} to finish") from None
        return "Complete"

    def pods(self, revision: int | None = None) -> list[dict]:
        return kjson("-n", self.namespace, "get", "pods", "-l", f"job-name={self.job_name(revision)}")["items"]

    def launcher_log(self, revision: int | None = None) -> str:
        """Logs of every pod (attempt) of the revision's Job, oldest first, so the last result
        block is the last attempt's; `kubectl logs job/...` would show one pod's only. kubectl
        merges the container's stdout and stderr."""
        pods = sorted(self.pods(revision), key=lambda p: p["metadata"]["creationTimestamp"])
        return "\n".join(kubectl("-n", self.namespace, "logs", p["metadata"]["name"], check=False).stdout
                         for p in pods)

    logs = launcher_log

    def daskrun(self, command: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """`daskrun COMMAND RELEASE -n NAMESPACE ARGS` (status, result), as a user types it."""
        return subprocess.run([sys.executable, "-m", "daskrun", command, self.name, "-n", self.namespace, *args],
                              capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})

    def status(self) -> dict:
        """This release's one line of `daskrun status -o json`."""
        shown = self.daskrun("status", "-o", "json")
        assert shown.returncode == 0, shown.stderr
        [run] = json.loads(shown.stdout)
        return run

    def recover(self, *args: str, revision: int | None = None) -> subprocess.CompletedProcess:
        """`daskrun recover --job` of the revision's Job, as a user types it."""
        return subprocess.run([sys.executable, "-m", "daskrun", "recover", "--job", self.job_name(revision),
                               "-n", self.namespace, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def release(request, namespace, tmp_path, kube_client):
    made: list[Release] = []

    def make(name: str = "bench") -> Release:
        rel = Release(name, namespace, tmp_path, kube_client)
        made.append(rel)
        return rel

    yield make
    dump_if_failed(request, namespace)
    for rel in made:
        helm("uninstall", rel.name, "-n", rel.namespace, "--wait", "--timeout", "60s", check=False)


@pytest.fixture
def counter(host_ip):
    """A server on this host that counts every execution the tasks of daskrun.examples.counted
    report, and holds or releases their function."""
    with Counter(host_ip) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(host_ip):
    """moto in server mode on the node's address: a real S3 endpoint for the pods."""
    with moto_s3(host_ip) as url:
        yield url


@pytest.fixture(scope="session")
def file_server(host_ip, tmp_path_factory):
    """A plain HTTP server for a wheel and a git repository (dumb HTTP protocol)."""
    root = tmp_path_factory.mktemp("served")
    port = free_port(host_ip)
    server = BackgroundServer([sys.executable, "-m", "http.server", "-b", host_ip, str(port)], host_ip, port, cwd=root)
    yield root, server.url
    server.stop()
