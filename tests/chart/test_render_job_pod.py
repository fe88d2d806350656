"""job.yaml's pod: its security context, volumes (the output PersistentVolumeClaim) and
placement."""

from __future__ import annotations

import pytest

from chart_render import (
    one,
    render_chart,
    run_container,
    run_job,
)
from daskrun.manifest import IMAGE_HOME, IMAGE_UID


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


def test_a_claim_the_chart_makes_is_mounted_at_the_output_directory():
    values = {"output": {"path": "results/benchmark.csv"}, "outputVolume": {"create": True}}
    objects = render_chart(values, name="bench")
    claim = one(objects, "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "bench-daskrun-output"
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    pod = run_job(objects)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["output"]["persistentVolumeClaim"] == {"claimName": "bench-daskrun-output"}
    mounts = {m["name"]: m for m in run_container(objects)["volumeMounts"]}
    assert mounts["output"]["mountPath"] == f"{IMAGE_HOME}/results"


def test_the_claim_the_chart_makes_takes_its_size_and_class():
    values = {
        "output": {"path": "/results/r.parquet"},
        "outputVolume": {"create": True, "size": "20Gi", "storageClassName": "fast"},
    }
    claim = one(render_chart(values), "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"] == {"requests": {"storage": "20Gi"}}


def test_the_claim_the_chart_makes_keeps_its_name_when_the_config_changes():
    """Every rerun writes to the same claim: a name per run (as the Job's) would drop the last result."""
    values = {"output": {"path": "results/r.csv"}, "outputVolume": {"create": True}}
    other = dict(values, runId="second")
    names = {one(render_chart(v), "PersistentVolumeClaim")["metadata"]["name"] for v in (values, other)}
    assert len(names) == 1


def test_no_pvc_by_default():
    objects = render_chart({"output": {"path": "results/x.csv"}})
    pod = run_job(objects)["spec"]["template"]["spec"]
    assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]


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
