"""Both controller modes, and two runs side by side in one namespace."""

from pathlib import Path

import pytest

from cluster_tools import SMALL_RUN, dask_clusters, helm, kjson, kubectl, wait_until

OPERATOR_IMAGE = "daskrun-operator:0.1.0"


def operator_chart() -> str:
    """The dask operator's official chart, as shipped inside the pinned dask-kubernetes package."""
    import dask_kubernetes

    return str(Path(dask_kubernetes.__file__).parent / "operator" / "deployment" / "helm" / "dask-kubernetes-operator")


@pytest.fixture
def dask_operator(cluster):
    """The dask operator installed from its chart, running an operator image built here.
    Removed right after the test: an operator watching all namespaces would also act on the
    clusters of embedded-mode runs, and two controllers on one cluster double its workers."""
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
    kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_external_mode_without_an_operator_fails_clearly(namespace, release):
    operators = kjson("get", "deployments", "-A", "-l", "app.kubernetes.io/name=dask-kubernetes-operator")["items"]
    if operators:
        pytest.skip("an operator is installed in this cluster")
    rel = release()
    rel.install(SMALL_RUN, controller={"mode": "external"}, job={"backoffLimit": 0})
    assert rel.wait() == "Failed"
    assert "no dask operator acted on the DaskCluster" in rel.launcher_log()


def test_external_operator_mode(namespace, release, dask_operator):
    rel = release()
    rel.install(SMALL_RUN, controller={"mode": "external"})
    assert rel.wait() == "Complete", rel.launcher_log()
    assert "embedded dask controller" not in rel.launcher_log()
    operator_log = kubectl("-n", dask_operator, "logs", "deploy/dask-operator-dask-kubernetes-operator",
                           "--tail=2000", check=False).stdout
    assert namespace in operator_log


def test_two_embedded_runs_side_by_side_keep_to_their_own_clusters(namespace, release):
    first, second = release("alpha"), release("beta")
    first.install(SMALL_RUN)
    second.install(SMALL_RUN)
    names = wait_until(lambda: (lambda c: c if len(c) == 2 else None)(
        sorted(c["metadata"]["name"] for c in dask_clusters(namespace))), 300, what="both DaskClusters")
    assert first.wait() == "Complete", first.launcher_log()
    assert second.wait() == "Complete", second.launcher_log()
    alpha_cluster = next(n for n in names if n.startswith("alpha"))
    beta_cluster = next(n for n in names if n.startswith("beta"))
    alpha_log, beta_log = first.launcher_log(), second.launcher_log()
    # Each embedded controller logs the objects it handles as [namespace/name].
    assert f"/{alpha_cluster}]" in alpha_log and f"/{beta_cluster}]" not in alpha_log
    assert f"/{beta_cluster}]" in beta_log and f"/{alpha_cluster}]" not in beta_log
