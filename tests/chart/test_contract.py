"""The chart <-> runtime contract: chart/templates/_contract.tpl is generated from the
runtime's constants, and what the templates set is what the runtime reads, compared through
the runtime's own names and readers, never a string typed again here."""

from __future__ import annotations

import re

import yaml

from chart_render import CHART, NAMESPACE, RELEASE, ROOT, env_of, one, render_chart, render_error, run_container, run_job

from daskrun import chart_contract, context, credentials, job_logs, manifest, run_labels

CONTRACT_FILE = CHART / chart_contract.FILE
DEFINE = re.compile(r'^\{\{- define "([^"]+)" -\}\}(.*)\{\{- end \}\}$', re.MULTILINE)


def test_contract_tpl_is_what_the_runtime_generates():
    """A failure names the defines that drifted from the runtime's constants."""
    committed = dict(DEFINE.findall(CONTRACT_FILE.read_text()))
    fresh = dict(DEFINE.findall(chart_contract.contract_tpl()))
    drifted = sorted(name for name in committed.keys() | fresh.keys() if committed.get(name) != fresh.get(name))
    assert not drifted, f"{CONTRACT_FILE.relative_to(ROOT)} drifted from the runtime in {drifted}; run `make schema`"
    assert CONTRACT_FILE.read_text() == chart_contract.contract_tpl(), "run `make schema`"


def runtime_env_names() -> set[str]:
    return {getattr(context, name) for name in dir(context) if name.startswith("ENV_")} | set(credentials.ENV)


def test_the_launcher_context_is_what_the_runtime_reads_from_the_chart(monkeypatch):
    """The launcher's env, set as the pod would have it, read by the runtime's own reader."""
    objects = render_chart({"workerRunAsRoot": True, "controller": {"mode": "external"},
                            "codeCredentials": {"existingSecret": "code-creds"},
                            "dask_cluster": {"worker_config": {"setup": {"apt_packages": ["curl"]}}}})
    container = run_container(objects)
    assert container["name"] == job_logs.RUN_CONTAINER
    pod = {"metadata.name": "demo-pod", "metadata.namespace": NAMESPACE}
    for name, value in env_of(container).items():
        if isinstance(value, dict) and "fieldRef" in value:
            value = pod[value["fieldRef"]["fieldPath"]]
        if isinstance(value, str):  # secretKeyRef values are not the context's
            monkeypatch.setenv(name, value)
    found = context.from_flags()
    assert (found.namespace, found.release, found.run_id, found.pod_name) == (NAMESPACE, RELEASE, "1", "demo-pod")
    assert found.controller == "external" and found.worker_run_as_root is True
    assert found.image == container["image"] and found.credentials_secret == "code-creds"


def test_the_chart_sets_no_daskrun_variable_the_runtime_does_not_define():
    objects = render_chart({"workerRunAsRoot": True, "codeCredentials": {"existingSecret": "code-creds"},
                            "dask_cluster": {"worker_config": {"setup": {"apt_packages": ["curl"]}}}})
    for container in (run_container(objects), one(objects, "Pod")["spec"]["containers"][0]):
        names = {name for name in env_of(container) if name.startswith("DASKRUN_")}
        assert names and names <= runtime_env_names(), names - runtime_env_names()


def test_the_job_and_its_pods_carry_the_runtimes_revision_label():
    job = run_job(render_chart())
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels[run_labels.REVISION_LABEL] == "1"


def test_credential_error_names_the_runtimes_variables():
    error = render_error({"dask_cluster": {"worker_config": {"setup": {"pip_index_url": "https://u:p@pypi.corp/simple"}}}})
    assert all(name in error for name in (credentials.GIT_TOKEN, credentials.GIT_SSH_KEY, credentials.PIP_PASSWORD))


def test_image_user_and_home_are_the_dockerfiles_and_the_charts():
    """manifest.IMAGE_UID/IMAGE_HOME (the Dask pods'), the Dockerfile and the chart's defaults:
    values.yaml cannot include a template, so its uid is checked here by name."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE).groups() == (str(manifest.IMAGE_UID),) * 2
    assert re.search(r"^WORKDIR (\S+)$", dockerfile, re.MULTILINE).group(1) == manifest.IMAGE_HOME
    assert f"HOME={manifest.IMAGE_HOME}\n" in dockerfile
    pod_security = yaml.safe_load((CHART / "values.yaml").read_text())["podSecurityContext"]
    assert {pod_security[key] for key in ("runAsUser", "runAsGroup", "fsGroup")} == {manifest.IMAGE_UID}
    assert run_container(render_chart())["workingDir"] == manifest.IMAGE_HOME
