"""Bad values are refused by `helm install` before anything exists; `helm test` checks a release."""

import pytest

from cluster_tools import SMALL_RUN, helm, kjson

BAD_VALUES = [
    ({"dask_cluster": {"workers": -1}}, "workers"),
    ({"dask_cluster": {"workers": {"minimum": 5, "maximum": 2}}}, "workers"),
    ({"dask_cluster": {"workers": "eight"}}, "workers"),
    ({"dask_cluster": {"worker_config": {"resources": {"memory": "4GB"}}}}, "memory"),
    ({"dask_cluster": {"worker_config": {"nthreads": 0}}}, "nthreads"),
    ({"dask_cluster": {"worker_config": {"setup": {"pip_packages": "xgboost"}}}}, "pip_packages"),
    ({"dask_cluster": {"wroker_config": {}}}, "wroker_config"),
    ({"run": {"function": "not-a-path", "args": {}}}, "function"),
    ({"run": {"function": "a.b", "args": [1, 2]}}, "args"),
    ({"output": {"path": "r.txt"}}, "output"),
    ({"output": {"path": "r.csv", "key": "only-the-key"}}, "output"),
    ({"controller": {"mode": "sometimes"}}, "mode"),
    ({"job": {"backoffLimit": -3}}, "backoffLimit"),
    ({"serviceAccount": {"create": "yes"}}, "create"),
    ({"imagee": {"repository": "x"}}, "imagee"),
]


@pytest.mark.parametrize("bad,key", BAD_VALUES, ids=[k for _, k in BAD_VALUES])
def test_bad_values_fail_install_naming_the_key_and_create_nothing(namespace, release, bad, key):
    rel = release()
    config = {**SMALL_RUN, **bad}
    result = rel.install(config, check=False)
    assert result.returncode != 0
    assert key in result.stderr, result.stderr
    for kind in ("jobs", "pods", "configmaps", "secrets", "roles", "serviceaccounts"):
        names = [i["metadata"]["name"] for i in kjson("-n", namespace, "get", kind)["items"]]
        assert [n for n in names if n not in ("kube-root-ca.crt", "default")] == [], kind
    assert helm("status", rel.name, "-n", namespace, check=False).returncode != 0


def test_helm_test_passes_on_a_good_release(namespace, release):
    rel = release()
    rel.install(SMALL_RUN)
    result = helm("test", rel.name, "-n", namespace, "--logs", "--timeout", "300s", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert rel.wait() == "Complete"


def test_helm_test_fails_on_a_broken_release(namespace, release):
    rel = release()
    # Installed without RBAC and with a ServiceAccount that has no rights: the run cannot work.
    from cluster_tools import kubectl

    kubectl("-n", namespace, "create", "serviceaccount", "powerless")
    rel.install(SMALL_RUN, rbac={"create": False}, serviceAccount={"create": False, "name": "powerless"})
    result = helm("test", rel.name, "-n", namespace, "--logs", "--timeout", "300s", check=False)
    assert result.returncode != 0
    assert "daskclusters" in (result.stdout + result.stderr)
