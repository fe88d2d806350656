"""job.yaml: the launcher Job, its name per revision, its environment and its failure policy."""

from __future__ import annotations

import re
import shutil

from chart_render import (
    CHART,
    DEFAULT_IMAGE,
    DEFAULT_WORKER_IMAGE,
    FULLNAME,
    JOB_PATTERN,
    RELEASE,
    env_of,
    render_chart,
    render_error,
    run_container,
    run_job,
)
from daskrun.context import (
    ENV_CONTROLLER,
    ENV_IMAGE_PULL_POLICY,
    ENV_NAMESPACE,
    ENV_POD_NAME,
    ENV_RELEASE,
    ENV_RUN_ID,
    ENV_SCHEDULER_IMAGE,
    ENV_WORKER_IMAGE,
    ENV_WORKER_RUN_AS_ROOT,
)
from daskrun.job_logs import RUN_CONTAINER


def test_job_runs_daskrun_with_its_environment():
    objects = render_chart({"extraEnv": [{"name": "DASK_LOGGING__DISTRIBUTED", "value": "debug"}]})
    container = run_container(objects)
    assert "command" not in container, "the image's tini entrypoint must stay"
    assert container["args"] == ["daskrun", "run", "/etc/daskrun/config.yaml"]
    assert container["image"] == DEFAULT_IMAGE
    env = env_of(container)
    assert env[ENV_CONTROLLER] == "auto"
    assert env[ENV_SCHEDULER_IMAGE] == DEFAULT_IMAGE
    assert env[ENV_WORKER_IMAGE] == DEFAULT_WORKER_IMAGE  # the slim image of the same build
    assert env[ENV_RELEASE] == RELEASE
    assert env[ENV_RUN_ID] == "1"
    assert env[ENV_POD_NAME] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env[ENV_NAMESPACE] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["DASK_LOGGING__DISTRIBUTED"] == "debug"
    assert ENV_WORKER_RUN_AS_ROOT not in env
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/daskrun"]["readOnly"] is True


def test_log_level_debug_runs_the_launcher_verbose_as_the_cli_reads_its_args():
    from daskrun.cli import _parser

    def verbose(values):
        daskrun, *args = run_container(render_chart(values))["args"]
        assert daskrun == "daskrun"
        return _parser().parse_args(args).verbose

    assert verbose({}) is False and verbose({"logLevel": "info"}) is False
    assert verbose({"logLevel": "debug"}) is True


def test_image_tag_and_repository():
    objects = render_chart({"image": {"repository": "registry.example/daskrun", "tag": "1.2.3", "pullPolicy": "Always"}})
    container = run_container(objects)
    assert container["image"] == "registry.example/daskrun:1.2.3"
    assert container["imagePullPolicy"] == "Always"
    assert env_of(container)[ENV_SCHEDULER_IMAGE] == "registry.example/daskrun:1.2.3"
    assert env_of(container)[ENV_WORKER_IMAGE] == "registry.example/daskrun-worker:1.2.3"
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


def test_apt_packages_opt_in_sets_worker_root_env():
    values = {"workerRunAsRoot": True, "dask_cluster": {"worker_config": {"setup": {"apt_packages": ["curl"]}}}}
    objects = render_chart(values)
    assert env_of(run_container(objects))[ENV_WORKER_RUN_AS_ROOT] == "true"
    # The launcher itself stays restricted.
    assert run_job(objects)["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_apt_packages_refused_without_opt_in():
    error = render_error({"dask_cluster": {"worker_config": {"setup": {"apt_packages": ["curl"]}}}})
    assert "dask_cluster.worker_config.setup.apt_packages" in error and "workerRunAsRoot" in error
