"""The controller modes: auto (the default) with and without an installed dask operator,
external, embedded beside an operator, and two embedded runs side by side in one namespace.

Tests without the operator come first; those with it share one install (class scope), which
is removed right after them: it watches all namespaces and would drive the other e2e runs."""

import re
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from cluster_tools import (
    ADAPTIVE_RUN,
    SMALL_RUN,
    dask_clusters,
    dask_pods,
    delete_namespace,
    exit_code,
    helm,
    kjson,
    kubectl,
    wait_until,
)
from daskrun import __version__

OPERATOR_IMAGE = f"daskrun-operator:{__version__}"  # as tests/e2e/operator_image.sh tags it
OPERATOR_SELECTOR = "app.kubernetes.io/name=dask-kubernetes-operator"
WORKERS = SMALL_RUN["dask_cluster"]["workers"]


def operator_chart() -> str:
    """The dask operator's official chart, as shipped inside the pinned dask-kubernetes package."""
    import dask_kubernetes

    return str(Path(dask_kubernetes.__file__).parent / "operator" / "deployment" / "helm" / "dask-kubernetes-operator")


@pytest.fixture(scope="class")
def dask_operator(cluster):
    """The dask operator installed from its chart, running an operator image built here.
    Removed, pods and all, right after the tests of the class: an operator watching all
    namespaces would also drive the other tests' runs."""
    # The kubelet reports imported images in the node status only after its next sync.
    wait_until(lambda: OPERATOR_IMAGE.split(":")[0] in kubectl(
        "get", "node", "-o", "jsonpath={.items[0].status.images[*].names}").stdout, 120,
        what=f"{OPERATOR_IMAGE} on the node (`make e2e` builds it with tests/e2e/operator_image.sh)")
    namespace = "dask-operator-e2e"
    helm("upgrade", "--install", "dask-operator", operator_chart(), "-n", namespace, "--create-namespace",
         "--set", f"image.name={OPERATOR_IMAGE.split(':')[0]}", "--set", f"image.tag={OPERATOR_IMAGE.split(':')[1]}",
         "--set", "image.pullPolicy=IfNotPresent", "--wait", "--timeout", "300s")
    yield namespace
    helm("uninstall", "dask-operator", "-n", namespace, "--wait", check=False)
    wait_until(lambda: not kjson("get", "pods", "-A", "-l", OPERATOR_SELECTOR)["items"], 120,
               what="the dask operator's pods to be gone")
    delete_namespace(namespace)


def helm_test(rel) -> str:
    result = helm("test", rel.name, "-n", rel.namespace, "--logs", "--timeout", "300s", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def log_time(log: str, pattern: str) -> datetime:
    """When the launcher logged a line matching `pattern` (its log format starts with asctime)."""
    match = re.search(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*" + pattern, log, re.M)
    assert match, f"no log line matching {pattern!r} in:\n{log}"
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")


def startup_seconds(log: str) -> float:
    """From creating the DaskCluster to all workers joined, as the launcher logged it."""
    return (log_time(log, f"workers joined: {WORKERS}/{WORKERS}") - log_time(log, "creating DaskCluster")).total_seconds()


class WorkerCounter:
    """Samples the worker Deployments and live worker pods of each release every second."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.samples: dict[str, list[tuple[int, int]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _count(self, kind: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in kjson("-n", self.namespace, "get", kind, "-l", "dask.org/component=worker")["items"]:
            if item["metadata"].get("deletionTimestamp"):
                continue
            instance = item["metadata"]["labels"].get("app.kubernetes.io/instance", "?")
            counts[instance] = counts.get(instance, 0) + 1
        return counts

    def _run(self):
        while not self._stop.wait(1):
            deployments, pods = self._count("deployments"), self._count("pods")
            for instance in set(deployments) | set(pods):
                self.samples.setdefault(instance, []).append((deployments.get(instance, 0), pods.get(instance, 0)))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def test_external_mode_without_an_operator_fails_clearly(namespace, release):
    operators = kjson("get", "deployments", "-A", "-l", OPERATOR_SELECTOR)["items"]
    if operators:
        pytest.skip("an operator is installed in this cluster")
    rel = release()
    rel.install(SMALL_RUN, controller={"mode": "external"}, job={"backoffLimit": 0})
    assert rel.wait() == "Failed"
    assert "no dask operator acted on the DaskCluster" in rel.launcher_log()


def test_two_default_runs_side_by_side_run_embedded_and_keep_to_their_own_clusters(namespace, release):
    """Without an operator the default (auto) runs the embedded controller, as before."""
    first, second = release("alpha"), release("beta")
    # kopf's per-object lines, which show what each controller acted on, are INFO: in the
    # launcher's log with the chart's debug log level only.
    first.install(SMALL_RUN, logLevel="debug")
    second.install(SMALL_RUN, logLevel="debug")
    names = wait_until(lambda: (lambda c: c if len(c) == 2 else None)(
        sorted(c["metadata"]["name"] for c in dask_clusters(namespace))), 300, what="both DaskClusters")
    assert first.wait() == "Complete", first.launcher_log()
    assert second.wait() == "Complete", second.launcher_log()
    alpha_cluster = next(n for n in names if n.startswith("alpha"))
    beta_cluster = next(n for n in names if n.startswith("beta"))
    alpha_log, beta_log = first.launcher_log(), second.launcher_log()
    for log, name in ((alpha_log, alpha_cluster), (beta_log, beta_cluster)):
        assert f"controller: the embedded controller (daskrun-{name}) drives the run: no dask operator acted on " \
               f"DaskCluster {name} within" in log, log
    # Each embedded controller logs the objects it handles as [namespace/name] (kopf's INFO).
    assert f"/{alpha_cluster}]" in alpha_log and f"/{beta_cluster}]" not in alpha_log
    assert f"/{beta_cluster}]" in beta_log and f"/{alpha_cluster}]" not in beta_log
    assert "ok    controller: the embedded controller will drive runs" in helm_test(first)


@pytest.mark.usefixtures("dask_operator")
class TestBesideTheDaskOperator:
    def test_default_mode_uses_the_operator_with_exactly_n_workers_as_fast_as_external(self, namespace, release, dask_operator):
        auto, external = release("auto"), release("external")
        # The operator's namespace is let in to the schedulers' HTTP API (the chart's default
        # names the usual one, dask-operator).
        allowed = {"operatorNamespace": dask_operator}
        with WorkerCounter(namespace) as counter:
            auto.install(SMALL_RUN, networkPolicy=allowed)
            external.install(SMALL_RUN, controller={"mode": "external"}, networkPolicy=allowed)
            assert auto.wait() == "Complete", auto.launcher_log()
            assert external.wait() == "Complete", external.launcher_log()
        auto_log, external_log = auto.launcher_log(), external.launcher_log()
        assert "controller: the installed dask operator drives the run: the dask-kubernetes operator installed " \
               "in the cluster acted on DaskCluster" in auto_log, auto_log
        assert "controller: the installed dask operator drives the run (controller.mode external)" in external_log
        for rel in ("auto", "external"):
            deployments = [d for d, _ in counter.samples[rel]]
            pods = [p for _, p in counter.samples[rel]]
            print(f"\n{rel}: worker Deployments sampled {deployments}, live worker pods {pods}")
            assert max(deployments) == WORKERS and max(pods) == WORKERS, f"{rel} asked for {WORKERS} workers"
        operator_log = kubectl("-n", dask_operator, "logs", "deploy/dask-operator-dask-kubernetes-operator",
                               "--tail=2000", check=False).stdout
        assert namespace in operator_log
        decided = float(re.search(r"acted on DaskCluster \S+ within ([0-9.]+)s", auto_log).group(1))
        auto_start, external_start = startup_seconds(auto_log), startup_seconds(external_log)
        print(f"start-up to {WORKERS} workers, side by side: auto {auto_start:.1f}s, external {external_start:.1f}s "
              f"({auto_start / external_start - 1:+.0%}); auto's decision took {decided:.2f}s")
        # All auto adds to a start is the wait for the operator's first mark.
        assert decided < 0.1 * external_start
        assert "ok    controller: the dask operator will drive runs" in helm_test(auto)

    def test_the_operator_scales_an_adaptive_run_across_its_tls_and_network_policy(self, namespace, release,
                                                                                   dask_operator):
        """The operator's autoscaler asks the scheduler's HTTP API how many workers it wants: from its
        own namespace, let in to that port only by the NetworkPolicy, while every Dask connection
        of the run is TLS with the run's certificates, which the operator does not have."""
        rel = release("adaptive")
        with WorkerCounter(namespace) as counter:
            rel.install(ADAPTIVE_RUN, controller={"mode": "external"}, networkPolicy={"operatorNamespace": dask_operator})
            assert rel.wait() == "Complete", rel.launcher_log()
        log = rel.launcher_log()
        assert "controller: the installed dask operator drives the run (controller.mode external)" in log, log
        assert "TLS: certificates of this run only" in log, log
        assert "adaptive scaling between 1 and 3 workers" in log, log
        most = max(pods for _, pods in counter.samples[rel.name])
        print(f"\nadaptive under the operator: at most {most} live worker pods")
        assert most >= 2, "the operator never scaled the run up"
        # The operator itself scaled it, from the scheduler's answer (not daskrun's embedded one).
        operator_log = kubectl("-n", dask_operator, "logs", "deploy/dask-operator-dask-kubernetes-operator",
                               "--tail=4000", check=False).stdout
        scaled = re.findall(r"Autoscaler updated (\S+) worker count from (\d+) to (\d+)", operator_log)
        assert any(name.startswith(rel.name) and int(new) > int(old) for name, old, new in scaled), operator_log[-3000:]
        assert "Unable to get desired number of workers" not in operator_log

    def test_explicit_embedded_beside_the_operator_stops_with_no_pods_left(self, namespace, release):
        rel = release()
        rel.install(SMALL_RUN, controller={"mode": "embedded"}, job={"backoffLimit": 0})
        started = time.monotonic()
        assert rel.wait() == "Failed"
        failed_after = time.monotonic() - started
        [pod] = rel.pods()
        log = rel.launcher_log()
        assert exit_code(pod) == 4, log
        assert "two controllers would drive DaskCluster" in log, log
        assert "this run's embedded controller (daskrun-" in log
        assert "and the dask-kubernetes operator installed in the cluster" in log
        wait_until(lambda: not dask_pods(namespace) and not dask_clusters(namespace), 120,
                   what="the Dask pods and cluster to be gone")
        print(f"\nexplicit embedded beside the operator: Job failed {failed_after:.1f}s after install")
