"""Every pod setting reaches exactly the pods it should: the launcher from the Job template,
the scheduler and workers from the DaskCluster the runtime builds out of the rendered
ConfigMap (what the launcher does in the cluster), and `daskrun run --dry-run` on the same
values file shows the same specs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from chart_render import (
    NAMESPACE,
    RELEASE,
    ROOT,
    by_kind,
    dask_rbac,
    helm,
    launcher_rbac,
    one,
    render_chart,
    render_error,
    run_job,
)

from daskrun import ownership, worker_drain
from daskrun.context import RunContext
from daskrun.manifest import IMAGE_HOME, build_cluster_spec
from daskrun.run_labels import COMPONENT_LABEL, INSTANCE_LABEL, RUN_LABEL, WORKER_COMPONENT
from daskrun.config import parse_config
from daskrun.dask_pods import POD_KEYS, dask_account_name, parse_dask_pods

RUN = {"run": {"function": "daskrun.examples.benchmark.run_benchmark"}}

# One value per pod setting, and where it lands in a pod: (spec or metadata key, container key).
SAMPLES = {
    "imagePullSecrets": [{"name": "regcred"}],
    "nodeSelector": {"pool": "batch"},
    "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["batch"]}]}]}}},
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                   "whenUnsatisfiable": "ScheduleAnyway"}],
    "priorityClassName": "batch-high",
    "podLabels": {"team": "ml"},
    "podAnnotations": {"cost-center": "42"},
    "extraVolumes": [{"name": "scratch", "emptyDir": {}}],
    "extraVolumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    "extraEnv": [{"name": "MY_SETTING", "value": "1"}],
}


def test_every_pod_setting_has_a_sample():
    assert set(SAMPLES) == set(POD_KEYS)


def setting_of(pod_template: dict, key: str):
    """The value a pod template holds for one setting (lists: only the given entries)."""
    spec, metadata = pod_template["spec"], pod_template.get("metadata", {})
    container = spec["containers"][0]
    found = {
        "podLabels": {k: v for k, v in metadata.get("labels", {}).items() if k in SAMPLES["podLabels"]},
        "podAnnotations": {k: v for k, v in (metadata.get("annotations") or {}).items() if k in SAMPLES["podAnnotations"]},
        "extraVolumes": [v for v in spec.get("volumes", []) if v["name"] == "scratch"],
        "extraVolumeMounts": [m for m in container.get("volumeMounts", []) if m["name"] == "scratch"],
        "extraEnv": [e for e in container.get("env", []) if e["name"] == "MY_SETTING"],
    }
    if key in found:
        return found[key] or None
    return spec.get(key)


def dask_cluster(objects: list[dict], release: str = RELEASE) -> dict:
    """The DaskCluster the launcher builds from the rendered ConfigMap."""
    data = yaml.safe_load(one(objects, "ConfigMap")["data"]["config.yaml"])
    context = RunContext(namespace=NAMESPACE, release=release, run_id="1",
                         pods=parse_dask_pods(data, release))
    return build_cluster_spec(parse_config(data), context)


def pods_of(objects: list[dict]) -> dict[str, dict]:
    cluster = dask_cluster(objects)
    return {"launcher": run_job(objects)["spec"]["template"], "scheduler": cluster["spec"]["scheduler"],
            "worker": cluster["spec"]["worker"]}


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_top_level_setting_reaches_launcher_scheduler_and_workers(key):
    pods = pods_of(render_chart({**RUN, key: SAMPLES[key]}))
    for role, pod in pods.items():
        assert setting_of(pod, key) == SAMPLES[key], f"{key} missing on the {role}"


@pytest.mark.parametrize("role", ["scheduler", "workers"])
@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_role_setting_reaches_only_that_role(key, role):
    pods = pods_of(render_chart({**RUN, "daskPods": {role: {key: SAMPLES[key]}}}))
    target = "worker" if role == "workers" else "scheduler"
    for name, pod in pods.items():
        expected = SAMPLES[key] if name == target else None
        assert setting_of(pod, key) == expected, f"daskPods.{role}.{key} on the {name}"


def test_role_override_replaces_lists_and_merges_maps():
    values = {**RUN, "nodeSelector": {"pool": "general", "zone": "a"},
              "tolerations": SAMPLES["tolerations"], "podLabels": {"team": "ml"},
              "daskPods": {"workers": {"nodeSelector": {"pool": "gpu"}, "tolerations": [],
                                       "podLabels": {"gpu": "yes"}}}}
    pods = pods_of(render_chart(values))
    assert pods["worker"]["spec"]["nodeSelector"] == {"pool": "gpu", "zone": "a"}
    assert "tolerations" not in pods["worker"]["spec"]
    assert pods["worker"]["metadata"]["labels"]["team"] == "ml"
    assert pods["worker"]["metadata"]["labels"]["gpu"] == "yes"
    for role in ("launcher", "scheduler"):
        assert pods[role]["spec"]["nodeSelector"] == {"pool": "general", "zone": "a"}
        assert pods[role]["spec"]["tolerations"] == SAMPLES["tolerations"]


def test_run_labels_win_over_pod_labels():
    pods = pods_of(render_chart({**RUN, "podLabels": {COMPONENT_LABEL: "mine", RUN_LABEL: "x"}}))
    assert pods["worker"]["metadata"]["labels"][COMPONENT_LABEL] == WORKER_COMPONENT
    assert pods["worker"]["metadata"]["labels"][RUN_LABEL] != "x"


def test_dask_pods_get_their_own_service_account_with_only_the_drivers_narrow_rights():
    objects = render_chart({**RUN, "daskPods": {"serviceAccount": {"annotations": {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/read-s3"}}}})
    accounts = {a["metadata"]["name"]: a for a in by_kind(objects, "ServiceAccount")}
    dask = accounts[f"{RELEASE}-daskrun-dask"]
    assert dask["automountServiceAccountToken"] is False
    assert dask["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/read-s3"}
    subjects = [s["name"] for s in launcher_rbac(objects, "RoleBinding")["subjects"]]
    assert subjects == [f"{RELEASE}-daskrun"]
    binding = dask_rbac(objects, "RoleBinding")
    assert [s["name"] for s in binding["subjects"]] == [f"{RELEASE}-daskrun-dask"]
    assert binding["roleRef"]["name"] == dask_rbac(objects, "Role")["metadata"]["name"]
    job = run_job(objects)["metadata"]["name"]
    # The watchdog's two calls (runtime/daskrun/watchdog.py), each on this run's object only;
    # the DaskCluster is named like the Job (daskrun.ownership.job_cluster_name).
    assert ownership.job_cluster_name(job) == job
    assert dask_rbac(objects, "Role")["rules"] == [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"], "resourceNames": [job]},
        {"apiGroups": ["kubernetes.dask.org"], "resources": ["daskclusters"], "verbs": ["delete"],
         "resourceNames": [job]},
    ]
    for role, pod in pods_of(objects).items():
        if role != "launcher":
            assert pod["spec"]["serviceAccountName"] == f"{RELEASE}-daskrun-dask"
            assert pod["spec"]["automountServiceAccountToken"] is False


def test_existing_dask_service_account_is_used_and_none_created():
    objects = render_chart({**RUN, "daskPods": {"serviceAccount": {"create": False, "name": "team-dask"}}})
    assert [a["metadata"]["name"] for a in by_kind(objects, "ServiceAccount")] == [f"{RELEASE}-daskrun"]
    assert pods_of(objects)["worker"]["spec"]["serviceAccountName"] == "team-dask"


def test_existing_dask_service_account_needs_a_name():
    error = render_error({**RUN, "daskPods": {"serviceAccount": {"create": False}}})
    assert "daskPods.serviceAccount.name is required" in error


@pytest.mark.parametrize("release, values", [
    ("demo", {}), ("my-daskrun", {}), ("r" * 53, {}), ("demo", {"nameOverride": "dr"}),
    ("demo", {"fullnameOverride": "custom"}), ("demo", {"fullnameOverride": "f" * 63}),
])
def test_runtime_names_the_service_account_as_the_chart_does(release, values):
    objects = render_chart({**RUN, **values}, name=release)
    created = [a["metadata"]["name"] for a in by_kind(objects, "ServiceAccount")
               if a["metadata"]["labels"].get(COMPONENT_LABEL) == "dask"]
    assert created == [dask_account_name(release, values)]


def test_dry_run_of_the_values_file_shows_the_launchers_specs(tmp_path):
    values = {**RUN, **SAMPLES, "daskPods": {"workers": {"nodeSelector": {"pool": "gpu"}}}}
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    from_chart = dask_cluster(render_chart(values))
    printed = subprocess.run([sys.executable, "-m", "daskrun", "run", str(path), "--dry-run",
                              "--release", RELEASE, "--namespace", NAMESPACE, "--run-id", "1"],
                             capture_output=True, text=True, check=True).stdout
    assert f"ServiceAccount {RELEASE}-daskrun-dask" in printed.splitlines()[0]
    from_file = yaml.safe_load(printed)
    for role in ("scheduler", "worker"):
        chart_pod, file_pod = from_chart["spec"][role], from_file["spec"][role]
        for key in SAMPLES:
            assert setting_of(file_pod, key) == setting_of(chart_pod, key), f"{role}: {key}"
        assert file_pod["spec"]["serviceAccountName"] == chart_pod["spec"]["serviceAccountName"]


def test_read_only_root_filesystem_for_dask_pods():
    pods = pods_of(render_chart({**RUN, "daskPods": {"readOnlyRootFilesystem": True}}))
    for role in ("scheduler", "worker"):
        for container in pods[role]["spec"]["containers"]:  # the scheduler's driver too
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert {"/tmp", IMAGE_HOME} <= {m["mountPath"] for m in container["volumeMounts"]}
    default = pods_of(render_chart(RUN))
    assert "readOnlyRootFilesystem" not in default["worker"]["spec"]["containers"][0]["securityContext"]


def test_read_only_root_filesystem_refused_with_apt_and_kept_with_pip_and_git():
    error = render_error({**RUN, "daskPods": {"readOnlyRootFilesystem": True}, "workerRunAsRoot": True,
                          "dask_cluster": {"worker_config": {"setup": {"apt_packages": ["jq"]}}}})
    assert "daskPods.readOnlyRootFilesystem" in error and "apt_packages" in error and "writable root" in error
    setup = {"pip_packages": ["x"], "git_repository": {"url": "https://e.com/r", "install": "pip install ."}}
    pods = pods_of(render_chart({**RUN, "daskPods": {"readOnlyRootFilesystem": True},
                                 "dask_cluster": {"worker_config": {"setup": setup}}}))
    assert pods["worker"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_network_policy_on_by_default_and_only_the_release_reaches_dask_pods():
    assert not by_kind(render_chart({**RUN, "networkPolicy": {"enabled": False}}), "NetworkPolicy")
    objects = render_chart(RUN)
    policy = one(objects, "NetworkPolicy")["spec"]
    selected = policy["podSelector"]
    worker_labels = pods_of(objects)["worker"]["metadata"]["labels"]
    # The policy selects exactly the labels the runtime puts on the Dask pods.
    assert all(worker_labels[k] == v for k, v in selected["matchLabels"].items())
    assert worker_labels[COMPONENT_LABEL] in selected["matchExpressions"][0]["values"]
    release_only, operator = policy["ingress"]
    assert release_only == {"from": [{"podSelector": {"matchLabels": {INSTANCE_LABEL: RELEASE}}}]}
    launcher_labels = run_job(objects)["spec"]["template"]["metadata"]["labels"]
    assert launcher_labels[INSTANCE_LABEL] == RELEASE
    # The operator's namespace reaches the scheduler's HTTP API only (the port the scheduler
    # container names), for adaptive scaling.
    assert operator["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "dask-operator"}}}]
    ports = {p["name"] for p in pods_of(objects)["scheduler"]["spec"]["containers"][0]["ports"]}
    assert [p["port"] for p in operator["ports"]] == ["http-dashboard"] and "http-dashboard" in ports
    for values in ({"controller": {"mode": "embedded"}}, {"networkPolicy": {"operatorNamespace": ""}}):
        assert len(one(render_chart({**RUN, **values}), "NetworkPolicy")["spec"]["ingress"]) == 1, values


def test_job_labels_annotations_and_suspend():
    job = run_job(render_chart({**RUN, "job": {"labels": {"kueue.x-k8s.io/queue-name": "team-a"},
                                               "annotations": {"note": "x"}, "suspend": True}}))
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert job["metadata"]["annotations"] == {"note": "x"}
    assert job["spec"]["suspend"] is True
    assert run_job(render_chart(RUN))["spec"]["suspend"] is False


def test_extended_resources_reach_the_workers_and_dask():
    objects = render_chart({**RUN, "dask_cluster": {"worker_config": {"resources": {
        "cpu": 1, "memory": "1G", "nvidia.com/gpu": 2, "ephemeral-storage": "10Gi"}}}})
    worker = dask_cluster(objects)["spec"]["worker"]["spec"]["containers"][0]
    assert worker["resources"]["limits"] == {"cpu": "1", "memory": "1G", "ephemeral-storage": "10Gi",
                                             "nvidia.com/gpu": "2"}
    assert worker["args"][worker["args"].index("--resources") + 1] == "GPU=2"


@pytest.mark.parametrize("values, key", [
    ({"daskPods": {"workers": {"nodeSelectr": {}}}}, "nodeSelectr"),
    ({"daskPods": {"readOnly": True}}, "readOnly"),
    ({"priorityClassName": 3}, "priorityClassName"),
    ({"extraVolumeMounts": [{"name": "x"}]}, "mountPath"),
    ({"job": {"suspend": "yes"}}, "suspend"),
    ({"networkPolicy": {"enabled": "true"}}, "enabled"),
    ({"dask_cluster": {"worker_config": {"resources": {"nvidia.com/gpu": 0.5}}}}, "nvidia.com~1gpu"),
])
def test_bad_pod_values_rejected_by_the_schema(values, key):
    assert key in render_error({**RUN, **values})


def test_configmap_carries_only_given_pod_settings():
    data = json.loads(one(render_chart(RUN), "ConfigMap")["data"]["config.yaml"])
    assert not set(POD_KEYS) & set(data)
    assert data["daskPods"]["serviceAccount"]["name"] == f"{RELEASE}-daskrun-dask"


def test_gpu_example_puts_only_the_workers_on_the_gpu_pool():
    example = ROOT / "values.gpu.example.yaml"
    helm("lint", "--strict", str(ROOT / "chart"), "-f", str(example))
    pods = pods_of(render_chart(values_files=(example,)))
    worker = pods["worker"]["spec"]
    assert worker["nodeSelector"] and worker["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert worker["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "GPU=1" in worker["containers"][0]["args"]
    for role in ("launcher", "scheduler"):
        assert "nodeSelector" not in pods[role]["spec"] and "tolerations" not in pods[role]["spec"]


def test_spot_example_puts_only_the_workers_on_the_spot_pool_and_drains_them():
    example = ROOT / "values.spot.example.yaml"
    helm("lint", "--strict", str(ROOT / "chart"), "-f", str(example))
    pods = pods_of(render_chart(values_files=(example,)))
    worker = pods["worker"]["spec"]
    assert worker["nodeSelector"] == {"node-lifecycle": "spot"}
    assert worker["tolerations"][0]["value"] == "spot"
    assert worker["containers"][0]["lifecycle"] == worker_drain.pre_stop_hook()
    assert worker["terminationGracePeriodSeconds"] == worker_drain.GRACE_PERIOD
    for role in ("launcher", "scheduler"):
        assert pods[role]["spec"]["nodeSelector"] == {"node-lifecycle": "on-demand"}
        assert "tolerations" not in pods[role]["spec"]
