"""role.yaml, rolebinding.yaml, serviceaccount.yaml: the launcher's identity and rights in each
controller mode (the Dask pods' own are in test_dask_pods_render.py)."""

from __future__ import annotations

import pytest
import yaml

from chart_render import (
    CHART,
    FULLNAME,
    NAMESPACE,
    by_kind,
    env_of,
    launcher_rbac,
    render_chart,
    run_container,
    run_job,
)
from daskrun import result_copy, run_tls
from daskrun.context import (
    ENV_CONTROLLER,
)
from daskrun.ownership import job_cluster_name


def test_no_rbac_objects_when_disabled():
    objects = render_chart({"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "runner"},
                            "daskPods": {"serviceAccount": {"create": False, "name": "runner-dask"}}})
    assert not by_kind(objects, "Role") and not by_kind(objects, "RoleBinding")
    assert not by_kind(objects, "ServiceAccount")
    assert run_job(objects)["spec"]["template"]["spec"]["serviceAccountName"] == "runner"


def test_service_account_annotations_for_workload_identity():
    arn = "arn:aws:iam::123456789012:role/daskrun"
    objects = render_chart({"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": arn}}})
    account = next(a for a in by_kind(objects, "ServiceAccount") if a["metadata"]["name"] == FULLNAME)
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn}
    binding = launcher_rbac(objects, "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": FULLNAME}
    assert run_job(objects)["spec"]["template"]["spec"]["serviceAccountName"] == FULLNAME


DASK_CRS = ["daskclusters", "daskclusters/scale", "daskworkergroups", "daskworkergroups/scale", "daskautoscalers"]


KUBECLUSTER_VERBS = {"get", "list", "watch", "create", "patch", "delete"}


def rules_of(objects):
    return launcher_rbac(objects, "Role")["rules"]


def allowed(rules, group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for rule in rules:
        if group in rule["apiGroups"] and resource in rule["resources"]:
            verbs |= set(rule["verbs"])
    return verbs


def test_rbac_external_mode_is_what_kubecluster_uses():
    rules = rules_of(render_chart({"controller": {"mode": "external"}}))
    for resource in DASK_CRS:
        assert allowed(rules, "kubernetes.dask.org", resource) == KUBECLUSTER_VERBS, resource
    assert allowed(rules, "", "pods") == {"get", "list", "watch"}
    assert allowed(rules, "", "pods/log") == {"get"}
    assert allowed(rules, "", "services") == {"get", "list", "watch"}
    assert allowed(rules, "batch", "jobs") == {"get", "patch"}  # its own Job only (daskrun.kept_mark)
    # Nothing the operator does: no Deployments, no events, no DaskJobs, no port-forward.
    assert allowed(rules, "apps", "deployments") == set()
    assert allowed(rules, "", "events") == set()
    assert allowed(rules, "kubernetes.dask.org", "daskjobs") == set()
    assert allowed(rules, "", "pods/portforward") == set()
    assert allowed(rules, "", "secrets") == {"create", "get", "patch", "delete"}  # one name but create
    assert allowed(rules, "", "configmaps") == {"create", "delete"}  # the same
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in rules)


def test_controller_mode_default_is_the_runtimes():
    from daskrun.context import DEFAULT_CONTROLLER

    assert yaml.safe_load((CHART / "values.yaml").read_text())["controller"]["mode"] == DEFAULT_CONTROLLER
    assert env_of(run_container(render_chart()))[ENV_CONTROLLER] == DEFAULT_CONTROLLER


@pytest.mark.parametrize("mode", ["embedded", "auto"])
def test_rbac_embedded_and_auto_modes_add_the_controller_needs(mode):
    rules = rules_of(render_chart({"controller": {"mode": mode}}))
    for resource in DASK_CRS:
        assert allowed(rules, "kubernetes.dask.org", resource) == KUBECLUSTER_VERBS, resource
    assert allowed(rules, "kubernetes.dask.org", "daskjobs") == {"get", "list", "watch", "patch"}
    assert allowed(rules, "apps", "deployments") == {"get", "list", "create", "delete"}
    assert allowed(rules, "", "services") == {"get", "list", "watch", "create", "patch"}
    assert allowed(rules, "", "events") == {"create"}
    assert allowed(rules, "", "pods") == {"get", "list", "watch"}
    assert allowed(rules, "", "pods/portforward") == set()
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in rules)


def test_rbac_job_read_limited_to_this_revisions_job():
    rules = rules_of(render_chart())
    [jobs] = [r for r in rules if "jobs" in r["resources"]]
    objects = render_chart()
    assert rules_of(objects) == rules
    assert jobs["resourceNames"] == [run_job(objects)["metadata"]["name"]]


def test_rbac_secret_rights_limited_to_this_runs_tls_secret():
    objects = render_chart()
    secrets = [r for r in rules_of(objects) if "secrets" in r["resources"]]
    cluster = job_cluster_name(run_job(objects)["metadata"]["name"])
    assert secrets == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "patch", "delete"],
         "resourceNames": [run_tls.secret_name(cluster)]},
    ]


def test_rbac_configmap_rights_are_create_and_the_result_copys_delete():
    objects = render_chart()
    config_maps = [r for r in rules_of(objects) if "configmaps" in r["resources"]]
    assert config_maps == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["delete"],
         "resourceNames": [result_copy.config_map_name(run_job(objects)["metadata"]["name"])]},
    ]
