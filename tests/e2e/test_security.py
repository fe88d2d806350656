"""Least privilege: what the run's ServiceAccount may do, and Pod Security `restricted`."""

import pytest

from cluster_tools import SMALL_RUN, kubectl

# (verb, resource, allowed in embedded mode, allowed in external mode)
MATRIX = [
    ("create", "daskclusters.kubernetes.dask.org", True, True),
    ("delete", "daskclusters.kubernetes.dask.org", True, True),
    ("patch", "daskworkergroups.kubernetes.dask.org", True, True),
    ("create", "daskautoscalers.kubernetes.dask.org", True, True),
    ("get", "pods", True, True),
    ("get", "pods/log", True, True),
    ("create", "deployments.apps", True, False),
    ("delete", "deployments.apps", True, False),
    ("create", "services", True, False),
    ("create", "events", True, False),
    ("create", "pods", False, False),
    ("delete", "pods", False, False),
    ("create", "secrets", True, True),  # the run's TLS Secret; get/patch/delete by its name only
    ("get", "secrets", False, False),
    ("list", "secrets", False, False),
    ("create", "roles.rbac.authorization.k8s.io", False, False),
    ("create", "rolebindings.rbac.authorization.k8s.io", False, False),
    ("create", "pods/exec", False, False),
    ("update", "jobs.batch", False, False),
]
CLUSTER_WIDE = [("list", "nodes"), ("list", "namespaces"), ("get", "customresourcedefinitions.apiextensions.k8s.io"),
                ("create", "clusterroles.rbac.authorization.k8s.io"), ("list", "pods", "--all-namespaces"),
                ("list", "daskclusters.kubernetes.dask.org", "--all-namespaces")]


def can_i(namespace, account, verb, resource, *extra):
    result = kubectl("auth", "can-i", verb, resource, "-n", namespace,
                     f"--as=system:serviceaccount:{namespace}:{account}", *extra, check=False)
    return result.stdout.strip() == "yes"


@pytest.mark.parametrize("mode", ["embedded", "external"])
def test_service_account_has_exactly_what_the_run_needs(namespace, release, mode):
    rel = release()
    rel.install(SMALL_RUN, controller={"mode": mode}) if mode == "embedded" else \
        rel.install(SMALL_RUN, controller={"mode": mode}, job={"activeDeadlineSeconds": 30})
    account = rel.job()["spec"]["template"]["spec"]["serviceAccountName"]
    assert account != "default"
    wrong = []
    for verb, resource, embedded, external in MATRIX:
        expected = embedded if mode == "embedded" else external
        if can_i(namespace, account, verb, resource) != expected:
            wrong.append(f"{verb} {resource}: expected {'yes' if expected else 'no'}")
    for verb, resource, *extra in CLUSTER_WIDE:
        if can_i(namespace, account, verb, resource, *extra):
            wrong.append(f"cluster-wide {verb} {resource} must be denied")
    # Of the Secrets, the launcher reads and changes its run's TLS one only.
    for verb, resource, expected in [("get", f"secrets/{rel.job_name()}-tls", True),
                                     ("delete", f"secrets/{rel.job_name()}-tls", True),
                                     ("get", "secrets/another-run-tls", False),
                                     ("patch", "secrets/another-run-tls", False)]:
        if can_i(namespace, account, verb, resource) != expected:
            wrong.append(f"{verb} {resource}: expected {'yes' if expected else 'no'}")
    # The Dask pods' own ServiceAccount (a token in the driver container only) may read its
    # run's Job and delete its run's DaskCluster, by name, and nothing else.
    dask_account = f"{rel.name}-daskrun-dask"
    kubectl("-n", namespace, "get", "serviceaccount", dask_account)
    job = rel.job_name()
    for verb, resource, *_ in MATRIX + [("list", "daskclusters.kubernetes.dask.org"), ("get", "services")]:
        if can_i(namespace, dask_account, verb, resource):
            wrong.append(f"Dask pods' ServiceAccount: {verb} {resource} must be denied")
    for verb, resource, expected in [("get", f"jobs.batch/{job}", True),
                                     ("delete", f"daskclusters.kubernetes.dask.org/{job}", True),
                                     ("get", "jobs.batch/another-run", False),
                                     ("delete", "daskclusters.kubernetes.dask.org/another-run", False),
                                     ("get", f"daskclusters.kubernetes.dask.org/{job}", False),
                                     ("delete", f"jobs.batch/{job}", False)]:
        if can_i(namespace, dask_account, verb, resource) != expected:
            wrong.append(f"Dask pods' ServiceAccount: {verb} {resource}: expected {'yes' if expected else 'no'}")
    for verb, resource, *extra in CLUSTER_WIDE:
        if can_i(namespace, dask_account, verb, resource, *extra):
            wrong.append(f"Dask pods' ServiceAccount: cluster-wide {verb} {resource} must be denied")
    assert wrong == []
    if mode == "embedded":
        # ... and with only those rights the run works.
        assert rel.wait() == "Complete", rel.launcher_log()


@pytest.mark.parametrize("namespace", [{"pod-security.kubernetes.io/enforce": "restricted"}], indirect=True)
def test_default_install_runs_in_a_restricted_namespace(namespace, release):
    rel = release()
    rel.install(SMALL_RUN)
    assert rel.wait() == "Complete", rel.launcher_log()
    events = kubectl("-n", namespace, "get", "events", check=False).stdout
    assert "violates PodSecurity" not in events
