"""tests/test-preflight.yaml: the `helm test` pod."""

from __future__ import annotations

from chart_render import (
    DEFAULT_IMAGE,
    FULLNAME,
    RELEASE,
    env_of,
    helm_major,
    one,
    render_chart,
    run_job,
)
from daskrun.context import (
    ENV_CONTROLLER,
    ENV_JOB_NAME,
    ENV_RELEASE,
)


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
    assert container["image"] == DEFAULT_IMAGE
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
