"""End-to-end fixtures: a real cluster ($KUBECONFIG), real helm and kubectl, one namespace per test.

Servers the pods must reach (S3, a git repository, a wheel) run on this host, bound to the
node's address, which pods reach through the node's network.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "support"))
CHART = REPO / "chart"
HELM = os.environ.get("HELM") or str(REPO / ".tools" / "bin" / "helm4")
KUBECTL = os.environ.get("KUBECTL") or shutil.which("kubectl") or "kubectl"
IMAGE_REPOSITORY = os.environ.get("DASKRUN_E2E_IMAGE_REPOSITORY", "daskrun")
IMAGE_TAG = os.environ.get("DASKRUN_E2E_IMAGE_TAG", "0.1.0")
JOB_TIMEOUT = float(os.environ.get("DASKRUN_E2E_JOB_TIMEOUT", "600"))

# A small, quick version of the example: 2 challenges x 2 tuners, 2 workers.
SMALL_RUN = {
    "run": {"function": "daskrun.examples.benchmark.run_benchmark",
            "args": {"iterations": 3, "challenges": ["iris", "branin"], "tuners": ["random", "grid"]}},
    "dask_cluster": {"workers": 2, "worker_config": {"resources": {"memory": "700M", "cpu": "250m"}}},
}


def sh(*argv: str, check: bool = True, input: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True, input=input, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def kubectl(*args: str, check: bool = True, input: str | None = None, timeout: float = 120):
    return sh(KUBECTL, *args, check=check, input=input, timeout=timeout)


def kjson(*args: str) -> Any:
    return json.loads(kubectl(*args, "-o", "json").stdout)


def helm(*args: str, check: bool = True, timeout: float = 300):
    return sh(HELM, *args, check=check, timeout=timeout)


def wait_until(predicate, timeout: float, interval: float = 2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
def host_ip(cluster) -> str:
    """An address of this host that pods reach: the node's InternalIP unless overridden."""
    if os.environ.get("DASKRUN_E2E_HOST_IP"):
        return os.environ["DASKRUN_E2E_HOST_IP"]
    for address in cluster[0]["status"]["addresses"]:
        if address["type"] == "InternalIP":
            return address["address"]
    pytest.fail("the node has no InternalIP; set DASKRUN_E2E_HOST_IP")


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
        logs = kubectl("-n", namespace, "logs", pod, "--all-containers", "--tail=60", check=False)
        parts.append(f"--- logs {pod}\n{logs.stdout}{logs.stderr}")
    return "\n".join(parts)


class Namespace(str):
    pass


@pytest.fixture
def namespace(request, cluster):
    name = f"e2e-{request.node.name[:30].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:5]}"
    name = "".join(c for c in name if c.isalnum() or c == "-").strip("-")
    labels = getattr(request, "param", {}) or {}
    kubectl("create", "namespace", name)
    if labels:
        kubectl("label", "namespace", name, *[f"{k}={v}" for k, v in labels.items()])
    yield Namespace(name)
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(f"\n===== dump of namespace {name} =====\n{dump_namespace(name)}", file=sys.stderr)
    kubectl("delete", "namespace", name, "--wait=false", check=False)


class Release:
    """One Helm release of the chart in a test namespace."""

    def __init__(self, name: str, namespace: str, tmp_path: Path):
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

        def finished():
            job = kjson("-n", self.namespace, "get", "job", name)
            for condition in job.get("status", {}).get("conditions", []) or []:
                if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
                    return condition["type"]
            return None

        return wait_until(finished, timeout, what=f"job {name} to finish")

    def pods(self, revision: int | None = None) -> list[dict]:
        return kjson("-n", self.namespace, "get", "pods", "-l", f"job-name={self.job_name(revision)}")["items"]

    def logs(self, revision: int | None = None) -> str:
        return kubectl("-n", self.namespace, "logs", f"job/{self.job_name(revision)}", check=False).stdout

    def launcher_log(self, revision: int | None = None) -> str:
        """Logs of every pod of the revision's Job (kubectl merges the container's stdout and stderr)."""
        return "\n".join(kubectl("-n", self.namespace, "logs", p["metadata"]["name"], check=False).stdout
                         for p in self.pods(revision))


@pytest.fixture
def release(namespace, tmp_path):
    made: list[Release] = []

    def make(name: str = "bench") -> Release:
        rel = Release(name, namespace, tmp_path)
        made.append(rel)
        return rel

    yield make
    for rel in made:
        helm("uninstall", rel.name, "-n", rel.namespace, "--wait", "--timeout", "60s", check=False)


def dask_pods(namespace: str, selector: str = "app.kubernetes.io/name=daskrun,app.kubernetes.io/managed-by=daskrun") -> list[dict]:
    return kjson("-n", namespace, "get", "pods", "-l", selector)["items"]


def dask_clusters(namespace: str) -> list[dict]:
    return kjson("-n", namespace, "get", "daskclusters.kubernetes.dask.org")["items"]


class BackgroundServer:
    """A process serving something on the host address the pods reach."""

    def __init__(self, argv: list[str], host: str, port: int, cwd: Path | None = None):
        self.url = f"http://{host}:{port}"
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{argv[0]} did not start on {host}:{port}")
                time.sleep(0.2)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def s3_server(host_ip):
    """moto in server mode on the node's address: a real S3 endpoint for the pods."""
    port = free_port()
    server = BackgroundServer([sys.executable, "-m", "moto.server", "-H", host_ip, "-p", str(port)], host_ip, port)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def file_server(host_ip, tmp_path_factory):
    """A plain HTTP server for a wheel and a git repository (dumb HTTP protocol)."""
    root = tmp_path_factory.mktemp("served")
    port = free_port()
    server = BackgroundServer([sys.executable, "-m", "http.server", "-b", host_ip, str(port)], host_ip, port, cwd=root)
    yield root, server.url
    server.stop()
