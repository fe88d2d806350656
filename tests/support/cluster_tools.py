"""Talking to the test cluster as a user does: kubectl, helm, and waiting for a condition.

The one harness of both cluster suites, the e2e suite (tests/e2e) and the smoke tests of the
local cluster (tests/cluster): `kubectl(*args)`, `kjson(*args)`, `apply(manifest)` and `helm(*args)`
run the binaries; both wait with the one `wait_until(predicate, timeout, interval, what)`.

Which kubectl: $KUBECTL; else a kubectl on PATH (`make e2e` and `make cluster-smoke` put the
one tests/cluster/build.sh made first); else tests/cluster/kubectl, the local cluster's wrapper.
Which cluster: $KUBECONFIG, else the local cluster's (tests/cluster/lib.sh KUBECONFIG_OUT,
<repo>/.cluster/kubeconfig). HELM names helm (default .tools/bin/helm4). The image under test is
DASKRUN_E2E_IMAGE_REPOSITORY:DASKRUN_E2E_IMAGE_TAG (e2e), lib.sh's $IMAGE (smoke); the tag
defaults to daskrun.__version__, which moves with chart/Chart.yaml's appVersion.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import string
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from daskrun import __version__

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart"
CLUSTER_LIB = REPO / "tests" / "cluster" / "lib.sh"


@functools.cache
def cluster_lib_value(name: str) -> str:
    """A setting of tests/cluster/lib.sh, the local cluster's one source of them, as the scripts
    see it (one made from others too, e.g. the worker image's name from $IMAGE): lib.sh sourced
    by bash, in this environment. Cached: module constants read it at import."""
    found = subprocess.run(
        ["bash", "-c", f'. "$0" >/dev/null 2>&1; printf %s "${name}"', str(CLUSTER_LIB)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if not found:
        raise AssertionError(f"{CLUSTER_LIB} sets no {name}")
    return found


def _kubectl_binary() -> str:
    local = REPO / "tests" / "cluster" / "kubectl"
    return os.environ.get("KUBECTL") or shutil.which("kubectl") or (str(local) if local.is_file() else "kubectl")


HELM = os.environ.get("HELM") or str(REPO / ".tools" / "bin" / "helm4")
KUBECTL = _kubectl_binary()
IMAGE_REPOSITORY = os.environ.get("DASKRUN_E2E_IMAGE_REPOSITORY", "daskrun")
IMAGE_TAG = os.environ.get("DASKRUN_E2E_IMAGE_TAG", __version__)
# The image the smoke tests run; up.sh loads $IMAGE (lib.sh's default: daskrun:<version>).
IMAGE = cluster_lib_value("IMAGE")
# Present on every node of the local cluster (its sandbox image); tiny, does nothing but sleep.
PAUSE_IMAGE = cluster_lib_value("PAUSE_IMAGE")
JOB_TIMEOUT = float(os.environ.get("DASKRUN_E2E_JOB_TIMEOUT", "600"))


def kubeconfig() -> str:
    """The cluster under test: $KUBECONFIG, else the local one's (up.sh and kind.sh write it)."""
    return os.environ.get("KUBECONFIG") or cluster_lib_value("KUBECONFIG_OUT")


def cluster_env() -> dict[str, str]:
    """This process's environment with KUBECONFIG set: what kubectl and helm run in."""
    return {**os.environ, "KUBECONFIG": kubeconfig()}


def registry_facts() -> dict[str, str]:
    """The cluster's own image registry (tests/cluster/up.sh start_registry): address, username,
    password, image, from registry.json beside the kubeconfig (or $DASKRUN_E2E_REGISTRY_FACTS)."""
    path = Path(os.environ.get("DASKRUN_E2E_REGISTRY_FACTS") or Path(kubeconfig()).parent / "registry.json")
    if not path.is_file():
        raise AssertionError(f"{path} is missing: the cluster has no registry of ours (make cluster-up starts one)")
    return json.loads(path.read_text())


# A small, quick version of the example: 2 challenges x 2 tuners, 2 workers.
SMALL_RUN = {
    "run": {
        "function": "daskrun.examples.benchmark.run_benchmark",
        "args": {"iterations": 3, "challenges": ["blobs", "branin"], "tuners": ["random", "grid"]},
    },
    "dask_cluster": {"workers": 2, "worker_config": {"resources": {"memory": "700M", "cpu": "250m"}}},
}

# Load for an autoscaler, 1 to 3 workers: about 10 CPU-seconds in twelve tasks, long enough to
# outlast the autoscaler's cooldown after its first scale-up (0 -> minimum); a shorter load is
# done before the autoscaler may act again.
ADAPTIVE_RUN = {
    "run": {
        "function": "daskrun.examples.benchmark.run_benchmark",
        "args": {
            "iterations": 160,
            "challenges": ["blobs", "moons", "friedman", "circles"],
            "tuners": ["random", "grid", "gp"],
        },
    },
    "dask_cluster": {
        "workers": {"minimum": 1, "maximum": 3},
        "worker_config": {"resources": {"memory": "600M", "cpu": "200m"}},
    },
}


def sh(
    *argv: str, check: bool = True, input: str | None = None, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True, input=input, timeout=timeout, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def kubectl(*args: str, check: bool = True, input: str | None = None, timeout: float = 120):
    """kubectl ARGS against the cluster under test; a failure raises AssertionError (`check`)."""
    return sh(KUBECTL, *args, check=check, input=input, timeout=timeout, env=cluster_env())


def kjson(*args: str) -> Any:
    return json.loads(kubectl(*args, "-o", "json").stdout)


def apply(manifest: dict | str, namespace: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """`kubectl apply` of one manifest (a dict, or its text), in `namespace` when given."""
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    ns = ["-n", namespace] if namespace else []
    return kubectl(*ns, "apply", "-f", "-", input=text, check=check)


def helm(*args: str, check: bool = True, timeout: float = 300):
    return sh(HELM, *args, check=check, timeout=timeout, env=cluster_env())


def wait_until(
    predicate, timeout: float, interval: float = 2, what: str = "condition", retry: tuple[type[BaseException], ...] = ()
):
    """Poll predicate() until it returns a truthy value, and return that value; fail naming
    `what` and the last value when `timeout` seconds pass. An exception of a type in `retry`
    (e.g. AssertionError, a transient kubectl failure) counts as a falsy value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
        except retry as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


# What kubectl() raises when kubectl fails: wait_until(..., retry=KUBECTL_FAILED) polls on
# through a transient failure (the API server busy, an object not created yet).
KUBECTL_FAILED = (AssertionError,)


def wait_pod_done(namespace: str, name: str, timeout: float = 180) -> str:
    """Wait until the pod has ended; its phase, Succeeded or Failed."""

    def ended() -> str | bool:
        phase = kjson("-n", namespace, "get", "pod", name).get("status", {}).get("phase", "")
        return phase in ("Succeeded", "Failed") and phase

    return wait_until(ended, timeout, interval=1, what=f"pod {namespace}/{name} to finish", retry=KUBECTL_FAILED)


def namespace_name(prefix: str, test_name: str) -> str:
    """A new namespace's name for a test: PREFIX-<the test's name>-<random>, a DNS label (of a
    parametrized test's [id], only what a label may hold)."""
    allowed = string.ascii_lowercase + string.digits + "-"
    base = "".join(c for c in test_name[:30].lower().replace("_", "-") if c in allowed).strip("-")
    return f"{prefix}-{base}-{uuid.uuid4().hex[:5]}"


def create_namespace(name: str, labels: dict[str, str] | None = None) -> str:
    """Create namespace `name`, labelled, and wait for its default ServiceAccount (the admission
    of a pod created before it refuses the pod)."""
    kubectl("create", "namespace", name)
    if labels:
        kubectl("label", "namespace", name, *[f"{k}={v}" for k, v in labels.items()])
    wait_until(
        lambda: kubectl("-n", name, "get", "sa", "default", check=False).returncode == 0,
        60,
        interval=1,
        what=f"the default ServiceAccount of {name}",
        retry=KUBECTL_FAILED,
    )
    return name


def delete_namespace(name: str) -> None:
    """Without waiting for it to go: its pods may take their grace period."""
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def internal_ip(node: dict) -> str | None:
    """The node's InternalIP: where pods reach a server on this host (tests/cluster/README.md)."""
    return next((a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"), None)


def dask_pods(
    namespace: str, selector: str = "app.kubernetes.io/name=daskrun,app.kubernetes.io/managed-by=daskrun"
) -> list[dict]:
    return kjson("-n", namespace, "get", "pods", "-l", selector)["items"]


def dask_clusters(namespace: str) -> list[dict]:
    return kjson("-n", namespace, "get", "daskclusters.kubernetes.dask.org")["items"]


def exit_code(pod: dict, container: str = "daskrun") -> int | None:
    """How the pod's container ended; None while it runs."""
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status["name"] == container:
            return ((status.get("state") or {}).get("terminated") or {}).get("exitCode")
    return None


def assert_retried_never_after(pods: list[dict], code: int, context: str = "") -> None:
    """The Job's pod that ended with `code` is its last: a code the Job must not retry. (An
    earlier attempt the node broke, e.g. runc failing under load, may come before it.)"""
    pods = sorted(pods, key=lambda pod: pod["metadata"]["creationTimestamp"])
    codes = [exit_code(pod) for pod in pods]
    assert codes[-1] == code and code not in codes[:-1], (
        f"exit code {code} must not be retried:\n{describe_pods(pods)}\n{context}"
    )


def describe_pods(pods: list[dict]) -> str:
    """One line per pod: its phase and how each container ended, for assertion messages."""
    lines = []
    for pod in pods:
        states = []
        for status in pod.get("status", {}).get("containerStatuses") or []:
            ended = (status.get("state") or {}).get("terminated") or {}
            states.append(f"{status['name']} exit {ended.get('exitCode')} {ended.get('reason', '')}".rstrip())
        conditions = [c["type"] for c in pod.get("status", {}).get("conditions") or [] if c.get("status") == "True"]
        lines.append(f"{pod['metadata']['name']}: {pod.get('status', {}).get('phase')} {states} {conditions}")
    return "\n".join(lines)


def evict(namespace: str, pod: str) -> None:
    """Through the Eviction API, as a drain or a preemption does (PodDisruptionBudgets apply)."""
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
    kubectl(
        "create", "--raw", f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction", "-f", "-", input=json.dumps(eviction)
    )


def force_delete(namespace: str, pod: str) -> None:
    """No grace period: the pod's processes get SIGKILL, as if its node were lost."""
    kubectl("-n", namespace, "delete", "pod", pod, "--grace-period=0", "--force", "--wait=false")
