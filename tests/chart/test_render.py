"""One test per behaviour of the rendered chart."""

from __future__ import annotations

import base64
import re
import json
import shutil

import pytest
import yaml

from daskrun import run_tls, safe_yaml
from daskrun.context import (
    ENV_CONTROLLER,
    ENV_IMAGE_PULL_POLICY,
    ENV_JOB_NAME,
    ENV_NAMESPACE,
    ENV_POD_NAME,
    ENV_RELEASE,
    ENV_RUN_ID,
    ENV_WORKER_IMAGE,
    ENV_WORKER_RUN_AS_ROOT,
)
from daskrun.job_logs import RUN_CONTAINER
from daskrun.manifest import IMAGE_HOME, IMAGE_UID
from daskrun.ownership import job_cluster_name
from daskrun.run_labels import INSTANCE_LABEL, MANAGED_BY_LABEL, RUN_HASH_LABEL
from chart_render import (
    CHART,
    NAMESPACE,
    RELEASE,
    ROOT,
    by_kind,
    env_of,
    helm,
    helm_major,
    launcher_rbac,
    one,
    render_chart,
    render_error,
    run_container,
    run_job,
)

FULLNAME = f"{RELEASE}-daskrun"
# <fullname>-r<revision>-<hash of the values>; test_job_naming.py checks the hash part.
JOB_PATTERN = re.compile(rf"^{FULLNAME}-r1-[0-9a-f]{{8}}$")
S3 = {"path": "results/out.csv", "bucket": "my-bucket"}
KEY, SECRET_KEY = "AKIAEXAMPLEKEY0001", "wJalr/XUtnFEMI+K7MDENG$bPx`RfiCYEX\\KEY"


def rules_of(objects):
    return launcher_rbac(objects, "Role")["rules"]


def allowed(rules, group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for rule in rules:
        if group in rule["apiGroups"] and resource in rule["resources"]:
            verbs |= set(rule["verbs"])
    return verbs


def test_lint_strict():
    helm("lint", "--strict", str(CHART))


def test_lint_strict_with_example_values():
    helm("lint", "--strict", str(CHART), "-f", str(ROOT / "values.example.yaml"))


def test_objects_in_the_default_mode():
    objects = render_chart()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "Job", "NetworkPolicy", "Pod", "Role", "Role", "RoleBinding", "RoleBinding",
                     "ServiceAccount", "ServiceAccount"]


def test_objects_in_external_mode():
    objects = render_chart({"controller": {"mode": "external"}})
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "Job", "NetworkPolicy", "Pod", "Role", "Role", "RoleBinding", "RoleBinding",
                     "ServiceAccount", "ServiceAccount"]
    assert env_of(run_container(objects))[ENV_CONTROLLER] == "external"


def test_everything_namespaced_in_release_namespace():
    for obj in render_chart():
        assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]
        assert obj["kind"] not in ("ClusterRole", "ClusterRoleBinding", "Namespace")


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


def run_config(configmap):
    """The config keys of the ConfigMap's file (the Dask pods' settings are tested in
    test_dask_pods_render.py)."""
    config = yaml.safe_load(configmap["data"]["config.yaml"])
    config.pop("daskPods")
    return config


def test_configmap_holds_the_config_without_credentials():
    values = {
        "run": {"function": "pkg.mod.fn", "args": {"n": 3, "text": "$HOME `x` \\"}},
        "dask_cluster": {"workers": {"minimum": 1, "maximum": 3}},
        "output": {**S3, "key": KEY, "secret_key": SECRET_KEY, "region": "eu-west-1"},
    }
    configmap = one(render_chart(values), "ConfigMap")
    config = run_config(configmap)
    assert config == {
        "run": {"function": "pkg.mod.fn", "args": {"n": 3, "text": "$HOME `x` \\"}},
        "dask_cluster": {"workers": {"minimum": 1, "maximum": 3}},
        "output": {**S3, "region": "eu-west-1"},
    }


def test_configmap_keeps_every_value_type(tmp_path):
    """What the runtime's reader gets back is what the values file said: small and huge
    floats stay floats, the key `n` stays a string, strings stay strings."""
    values = tmp_path / "values.yaml"
    values.write_text(
        "run:\n  function: a.b\n  args:\n"
        "    lr: 0.00001\n    tiny: 1.5e-7\n    huge: 1e21\n    neg: -2e-9\n    grid: [1e-07, 2]\n"
        '    "n": 3\n    text: "x: 1e-05"\n    lines: "a\\nb: 1e-05"\n    flag: true\n    none: null\n'
        '    version: "1.10"\n'
    )
    config = safe_yaml.load(one(render_chart(values_files=(values,)), "ConfigMap")["data"]["config.yaml"])
    assert config["run"]["args"] == {
        "lr": 0.00001, "tiny": 1.5e-7, "huge": 1e21, "neg": -2e-9, "grid": [1e-07, 2], "n": 3,
        "text": "x: 1e-05", "lines": "a\nb: 1e-05", "flag": True, "none": None, "version": "1.10",
    }


def test_configmap_leaves_out_empty_sections():
    config = run_config(one(render_chart(), "ConfigMap"))
    assert config == {"run": {"function": "daskrun.examples.benchmark.run_benchmark", "args": {}}}


def test_no_credential_outside_the_secret():
    values = {"output": {**S3, "key": KEY, "secret_key": SECRET_KEY}}
    objects = render_chart(values)
    for obj in objects:
        if obj["kind"] == "Secret":
            continue
        text = json.dumps(obj)
        for secret in (KEY, SECRET_KEY, base64.b64encode(SECRET_KEY.encode()).decode()):
            assert secret not in text, f"{obj['kind']} {obj['metadata']['name']} holds a credential"
    container = run_container(objects)
    for entry in container["env"]:
        assert "value" not in entry or entry["value"] not in (KEY, SECRET_KEY)


def test_secret_created_from_output_keys():
    objects = render_chart({"output": {**S3, "key": KEY, "secret_key": SECRET_KEY}})
    secret = one(objects, "Secret")
    assert secret["metadata"]["name"] == f"{FULLNAME}-credentials"
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    env = env_of(run_container(objects))
    assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": f"{FULLNAME}-credentials", "key": "AWS_ACCESS_KEY_ID"}}
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": f"{FULLNAME}-credentials", "key": "AWS_SECRET_ACCESS_KEY"}
    }


def test_existing_secret_wiring():
    objects = render_chart({"output": S3, "credentials": {"existingSecret": "s3-creds"}})
    assert not by_kind(objects, "Secret")
    env = env_of(run_container(objects))
    assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "s3-creds", "key": "AWS_ACCESS_KEY_ID"}}
    assert env["AWS_SECRET_ACCESS_KEY"] == {"secretKeyRef": {"name": "s3-creds", "key": "AWS_SECRET_ACCESS_KEY"}}


def test_no_credentials_env_without_keys():
    objects = render_chart({"output": S3})
    assert not by_kind(objects, "Secret")
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env_of(run_container(objects)))


def test_job_runs_daskrun_with_its_environment():
    objects = render_chart({"extraEnv": [{"name": "DASK_LOGGING__DISTRIBUTED", "value": "debug"}]})
    container = run_container(objects)
    assert "command" not in container, "the image's tini entrypoint must stay"
    assert container["args"] == ["daskrun", "run", "/etc/daskrun/config.yaml"]
    assert container["image"] == "daskrun:0.1.0"
    env = env_of(container)
    assert env[ENV_CONTROLLER] == "auto"
    assert env[ENV_WORKER_IMAGE] == "daskrun:0.1.0"
    assert env[ENV_RELEASE] == RELEASE
    assert env[ENV_RUN_ID] == "1"
    assert env[ENV_POD_NAME] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env[ENV_NAMESPACE] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["DASK_LOGGING__DISTRIBUTED"] == "debug"
    assert ENV_WORKER_RUN_AS_ROOT not in env
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/daskrun"]["readOnly"] is True


def test_image_tag_and_repository():
    objects = render_chart({"image": {"repository": "registry.example/daskrun", "tag": "1.2.3", "pullPolicy": "Always"}})
    container = run_container(objects)
    assert container["image"] == "registry.example/daskrun:1.2.3"
    assert container["imagePullPolicy"] == "Always"
    assert env_of(container)[ENV_WORKER_IMAGE] == "registry.example/daskrun:1.2.3"
    assert env_of(container)[ENV_IMAGE_PULL_POLICY] == "Always"  # the Dask pods pull as the launcher does


def test_job_is_not_a_hook_and_restarts_never():
    job = run_job(render_chart())
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 2
    assert "activeDeadlineSeconds" not in job["spec"]
    assert "ttlSecondsAfterFinished" not in job["spec"]


def test_job_limits():
    job = run_job(render_chart({"job": {"backoffLimit": 0, "activeDeadlineSeconds": 3600, "ttlSecondsAfterFinished": 0}}))
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 3600
    assert job["spec"]["ttlSecondsAfterFinished"] == 0


def test_pod_failure_policy_from_exit_codes():
    """The Job fails at once on exactly the exit codes daskrun.errors marks as not worth a retry."""
    from daskrun.errors import FAIL_JOB_CODES

    policy = run_job(render_chart())["spec"]["podFailurePolicy"]
    assert FAIL_JOB_CODES, "daskrun.errors marks no exit code as failing the Job"
    assert policy["rules"] == [
        {"action": "FailJob",
         "onExitCodes": {"containerName": RUN_CONTAINER, "operator": "In", "values": list(FAIL_JOB_CODES)}},
        # status is required by the API's OpenAPI schema (kubeconform strict), though defaulted.
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ], "chart/templates/job.yaml's podFailurePolicy no longer follows daskrun.errors.EXIT_CODES"


def test_job_name_is_per_revision():
    assert JOB_PATTERN.match(run_job(render_chart())["metadata"]["name"])


def test_job_names_across_revisions(tmp_path):
    """`helm template` always renders revision 1, so render the chart's own name helper for
    other revisions from a template added to a copy of the chart."""
    chart = tmp_path / "daskrun"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "zz-names.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: names\ndata:\n"
        "{{- range $rev := list 1 2 3 10 999999999 }}\n"
        '  r{{ $rev }}: {{ include "daskrun.jobName" (dict "root" $ "revision" $rev) | quote }}\n'
        "{{- end }}\n"
    )
    objects = render_chart(chart=chart)
    names = [o for o in objects if o["metadata"]["name"] == "names"][0]["data"]
    job = run_job(objects)["metadata"]["name"]
    assert names["r1"] == job and JOB_PATTERN.match(job)
    run_hash = job.rsplit("-", 1)[1]
    assert names["r2"] == f"{FULLNAME}-r2-{run_hash}" and names["r10"] == f"{FULLNAME}-r10-{run_hash}"
    assert len(set(names.values())) == 5
    long_objects = render_chart(chart=chart, name="a" * 53)
    long_names = [o for o in long_objects if o["metadata"]["name"] == "names"][0]["data"]
    assert all(len(n) <= 63 and not n.startswith("-") for n in long_names.values())
    assert len(set(long_names.values())) == 5
    assert re.search(r"-r999999999-[0-9a-f]{8}$", long_names["r999999999"])


def test_restricted_security_context():
    objects = render_chart()
    pod = run_job(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == IMAGE_UID
    assert pod["securityContext"]["runAsGroup"] == IMAGE_UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = run_container(objects)["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in run_container(objects)["volumeMounts"]}
    assert {"/tmp", IMAGE_HOME} <= mounts


@pytest.mark.parametrize(
    "setup",
    [{"pip_packages": ["mlblocks"]}, {"git_repository": {"url": "https://example.org/repo.git"}}],
)
def test_writable_root_filesystem_when_setup_installs_into_the_image(setup):
    values = {"dask_cluster": {"worker_config": {"setup": setup}}}
    assert run_container(render_chart(values))["securityContext"]["readOnlyRootFilesystem"] is False


def test_read_only_root_filesystem_can_be_overridden():
    values = {"securityContext": {"readOnlyRootFilesystem": False}}
    assert run_container(render_chart(values))["securityContext"]["readOnlyRootFilesystem"] is False


def test_apt_packages_opt_in_sets_worker_root_env():
    values = {"workerRunAsRoot": True, "dask_cluster": {"worker_config": {"setup": {"apt_packages": ["curl"]}}}}
    objects = render_chart(values)
    assert env_of(run_container(objects))[ENV_WORKER_RUN_AS_ROOT] == "true"
    # The launcher itself stays restricted.
    assert run_job(objects)["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_apt_packages_refused_without_opt_in():
    error = render_error({"dask_cluster": {"worker_config": {"setup": {"apt_packages": ["curl"]}}}})
    assert "dask_cluster.worker_config.setup.apt_packages" in error and "workerRunAsRoot" in error


def test_pvc_mounted_at_the_output_directory():
    values = {"output": {"path": "results/benchmark.csv"}, "outputVolume": {"existingClaim": "results-pvc"}}
    objects = render_chart(values)
    pod = run_job(objects)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["output"]["persistentVolumeClaim"] == {"claimName": "results-pvc"}
    mounts = {m["name"]: m for m in run_container(objects)["volumeMounts"]}
    assert mounts["output"]["mountPath"] == f"{IMAGE_HOME}/results"
    assert run_container(objects)["workingDir"] == IMAGE_HOME


def test_pvc_mounted_at_an_absolute_output_directory_with_subpath():
    values = {"output": {"path": "/data/out/r.parquet"}, "outputVolume": {"existingClaim": "c", "subPath": "runs"}}
    mounts = {m["name"]: m for m in run_container(render_chart(values))["volumeMounts"]}
    assert mounts["output"] == {"name": "output", "mountPath": "/data/out", "subPath": "runs"}


def test_pvc_replaces_home_for_a_bare_file_name():
    values = {"output": {"path": "results.csv"}, "outputVolume": {"existingClaim": "c"}}
    objects = render_chart(values)
    mounts = {m["mountPath"]: m["name"] for m in run_container(objects)["volumeMounts"]}
    assert mounts[IMAGE_HOME] == "output"
    names = [v["name"] for v in run_job(objects)["spec"]["template"]["spec"]["volumes"]]
    assert "home" not in names


def test_no_pvc_by_default():
    pod = run_job(render_chart({"output": {"path": "results/x.csv"}}))["spec"]["template"]["spec"]
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]


def test_image_pull_secrets():
    objects = render_chart({"imagePullSecrets": [{"name": "regcred"}]})
    assert run_job(objects)["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    test_pod = one(objects, "Pod")
    assert test_pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_scheduling_and_pod_metadata():
    values = {
        "nodeSelector": {"pool": "batch"},
        "tolerations": [{"key": "batch", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {}},
        "podAnnotations": {"team": "ml"},
        "podLabels": {"cost-center": "42"},
        "resources": {"requests": {"cpu": "1"}},
    }
    job = run_job(render_chart(values))
    pod = job["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == {"pool": "batch"}
    assert pod["spec"]["tolerations"] == [{"key": "batch", "operator": "Exists"}]
    assert pod["spec"]["affinity"] == {"nodeAffinity": {}}
    assert pod["metadata"]["annotations"]["team"] == "ml"
    assert pod["metadata"]["labels"]["cost-center"] == "42"
    # Merged into the chart's defaults, as Helm does.
    assert pod["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"memory": "2Gi"}}


def test_labels_and_selectors():
    objects = render_chart()
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "daskrun"
        assert labels[INSTANCE_LABEL] == RELEASE
        assert labels[MANAGED_BY_LABEL] == "Helm"
        assert labels["helm.sh/chart"] == "daskrun-0.1.0"
    job = run_job(objects)
    # The full set on the pods too (the Job's pods and the helm test pod): the Job's
    # selector is generated from its uid, so no selector ever carries these.
    for pod_labels in (job["spec"]["template"]["metadata"]["labels"], one(objects, "Pod")["metadata"]["labels"]):
        for key in ("app.kubernetes.io/name", INSTANCE_LABEL, "app.kubernetes.io/version", MANAGED_BY_LABEL,
                    "helm.sh/chart"):
            assert pod_labels[key] == job["metadata"]["labels"][key], key
    assert job["spec"]["template"]["metadata"]["labels"][RUN_HASH_LABEL] == job["metadata"]["labels"][RUN_HASH_LABEL]
    prefixes = {key.split("/")[0] for obj in objects for key in obj["metadata"].get("labels", {}) | obj["metadata"].get("annotations", {})}
    assert not any(p.startswith("daskrun") and p != "daskrun.io" for p in prefixes), prefixes
    assert "selector" not in run_job(objects)["spec"], "the Job controller generates its own selector"


def test_full_name_overrides():
    objects = render_chart({"fullnameOverride": "bench"})
    assert re.match(r"^bench-r1-[0-9a-f]{8}$", run_job(objects)["metadata"]["name"])
    assert one(objects, "ConfigMap")["metadata"]["name"] == run_job(objects)["metadata"]["name"]
    objects = render_chart(name="daskrun-nightly")
    assert re.match(r"^daskrun-nightly-r1-[0-9a-f]{8}$", run_job(objects)["metadata"]["name"])


def test_helm_test_pod_runs_preflight_restricted():
    objects = render_chart({"controller": {"mode": "external"}})
    pod = one(objects, "Pod")
    annotations = pod["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "test"
    if helm_major() >= 4:
        # Helm 4 prints `helm test --logs` before deleting hooks: nothing outlives the test.
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded,hook-failed"
        assert annotations["helm.sh/hook-output-log-policy"] == "hook-failed"
    else:
        # Helm 3 deletes before it prints: keep the pod for `helm test --logs`.
        assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
        assert "helm.sh/hook-output-log-policy" not in annotations
    spec = pod["spec"]
    assert spec["serviceAccountName"] == FULLNAME
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = spec["containers"]
    assert container["image"] == "daskrun:0.1.0"
    assert container["args"] == ["daskrun", "preflight", "--config", "/etc/daskrun/config.yaml"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    env = env_of(container)
    assert env[ENV_CONTROLLER] == "external"
    assert env[ENV_JOB_NAME] == run_job(objects)["metadata"]["name"]
    assert env[ENV_RELEASE] == RELEASE
    # Each revision's own config, named like its Job (a retried launcher never reads the next's).
    assert {v["name"]: v for v in spec["volumes"]}["config"]["configMap"]["name"] == run_job(objects)["metadata"]["name"]
    assert one(objects, "ConfigMap")["metadata"]["name"] == run_job(objects)["metadata"]["name"]


def test_crds_are_the_pinned_packages():
    from gen import crds

    wanted = crds()
    assert sorted(p.name for p in (CHART / "crds").glob("*.yaml")) == sorted(wanted), "run `make crds`"
    for name, text in wanted.items():
        assert (CHART / "crds" / name).read_text() == text, f"chart/crds/{name} is stale: run `make crds`"
    objects = render_chart(extra=("--include-crds",))
    names = sorted(o["metadata"]["name"] for o in by_kind(objects, "CustomResourceDefinition"))
    assert names == [
        "daskautoscalers.kubernetes.dask.org",
        "daskclusters.kubernetes.dask.org",
        "daskworkergroups.kubernetes.dask.org",
    ]


def test_values_example_renders():
    objects = render_chart(values_files=(ROOT / "values.example.yaml",))
    config = run_config(one(objects, "ConfigMap"))
    example = yaml.safe_load((ROOT / "values.example.yaml").read_text())
    expected = {key: example[key] for key in ("run", "dask_cluster", "output") if example.get(key)}
    for secret in ("key", "secret_key"):
        expected.get("output", {}).pop(secret, None)
    assert config == expected
    assert re.match(r"^demo-daskrun-r1-[0-9a-f]{8}$", run_job(objects)["metadata"]["name"])


def test_values_yaml_documents_every_key():
    """helm-docs: every key of values.yaml has a `# --` comment, on itself or an ancestor."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    ancestors: list[tuple[int, bool]] = []  # (indent, documented) of the enclosing keys
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("-") or ":" not in stripped:
            continue
        indent = len(line) - len(line.lstrip())
        while ancestors and ancestors[-1][0] >= indent:
            ancestors.pop()
        above = index - 1
        while above >= 0 and lines[above].strip().startswith("#") and "# --" not in lines[above]:
            above -= 1
        documented = above >= 0 and "# --" in lines[above]
        is_parent = stripped.split(":", 1)[1].strip() == ""
        if not (documented or is_parent or any(doc for _, doc in ancestors)):
            undocumented.append(stripped)
        ancestors.append((indent, documented))
    assert not undocumented, f"keys without a helm-docs `# --` comment: {undocumented}"


def render_notes(tmp_path, values=None) -> str:
    """NOTES.txt as rendered for `helm install` (helm template skips it and Helm 3's
    install --dry-run needs a cluster): the copy of the chart renders it into a ConfigMap."""
    chart = tmp_path / "daskrun"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "_notes.tpl").write_text('{{- define "test.notes" }}' + notes + "{{- end }}")
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  notes: {{ include "test.notes" . | toJson }}\n'
    )
    objects = render_chart(values, chart=chart)
    return [o for o in objects if o["metadata"]["name"] == "notes"][0]["data"]["notes"]


def test_notes_name_the_next_commands(tmp_path):
    notes = render_notes(tmp_path)
    job = run_job(render_chart())["metadata"]["name"]
    assert f"kubectl logs -n {NAMESPACE} -f job/{job}" in notes
    assert f"helm upgrade -n {NAMESPACE} {RELEASE}" in notes
    assert f"helm uninstall -n {NAMESPACE} {RELEASE}" in notes
    assert f"helm test -n {NAMESPACE} {RELEASE}" in notes
    assert "port-forward" in notes
    assert "printed at the end of the log" in notes
    # Every attempt of a retried Job: `kubectl logs job/...` alone shows one pod's log.
    assert f"daskrun recover --job {job} -n {NAMESPACE} -o <file>" in notes
    assert f"daskrun status -n {NAMESPACE} {RELEASE}" in notes
    assert f"daskrun result -n {NAMESPACE} {RELEASE} -o <file>" in notes
    assert f"-l job-name={job} --sort-by=.metadata.creationTimestamp" in notes


def test_notes_say_where_the_result_goes(tmp_path):
    notes = render_notes(tmp_path, {"output": {"bucket": "bkt", "path": "runs/r.csv"}})
    assert "s3://bkt/runs/r.csv" in notes
    notes = render_notes(tmp_path / "2", {"output": {"path": "results/r.csv"}, "outputVolume": {"existingClaim": "pvc"}})
    assert "PersistentVolumeClaim pvc" in notes and "/home/daskrun/results" in notes
