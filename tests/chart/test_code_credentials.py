"""codeCredentials: git and package-index credentials reach every pod (the launcher from the
chart, the scheduler and workers from the DaskCluster the launcher builds) only through
secretKeyRef, and appear in no other object."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from chart_render import RELEASE, by_kind, env_of, one, render_chart, render_error, run_container

from daskrun import credentials
from daskrun.context import ENV_CODE_CREDENTIALS_SECRET, RunContext
from daskrun.manifest import build_cluster_spec
from daskrun.config import load_config

SECRET = f"{RELEASE}-daskrun-code-credentials"
VALUES = {
    credentials.GIT_USERNAME: "ci-bot",
    credentials.GIT_TOKEN: "glpat-Very$ecret`Token\\1",
    credentials.GIT_SSH_KEY: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    credentials.GIT_KNOWN_HOSTS: "git.corp ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsab",
    credentials.PIP_USERNAME: "reader",
    credentials.PIP_PASSWORD: "pypi-P4ssw0rd-Value",
}
SECRET_VALUES = [v for k, v in VALUES.items() if k not in (credentials.GIT_USERNAME, credentials.PIP_USERNAME,
                                                            credentials.GIT_KNOWN_HOSTS)]
SETUP = {"pip_packages": ["private-probe"], "pip_index_url": "https://pypi.corp/simple",
         "pip_extra_index_urls": ["https://pypi.org/simple"],
         "git_repository": {"url": "https://git.corp/team/code.git", "reference": "main"}}
CONFIG = {"dask_cluster": {"worker_config": {"setup": SETUP}}}


def every_container(objects):
    """(owner, container) for the chart's pods and for the DaskCluster the launcher would build
    from what the chart gives it (its ConfigMap and its env)."""
    found = []
    for obj in objects:
        spec = obj.get("spec", {})
        pod = spec.get("template", {}).get("spec") if obj["kind"] == "Job" else spec if obj["kind"] == "Pod" else None
        for container in (pod or {}).get("containers", []):
            found.append((f"{obj['kind']} {obj['metadata']['name']}", container))
    config = load_config(yaml.safe_load(one(objects, "ConfigMap")["data"]["config.yaml"]))
    launcher_env = env_of(run_container(objects))
    context = RunContext(namespace="ns", release=RELEASE, run_id="1",
                         credentials_secret=launcher_env.get(ENV_CODE_CREDENTIALS_SECRET))
    cluster = build_cluster_spec(config, context)
    for role in ("scheduler", "worker"):
        for container in cluster["spec"][role]["spec"]["containers"]:
            found.append((f"DaskCluster {role}", container))
    return found, cluster


@pytest.mark.parametrize("chart", [{"values": VALUES}, {"existingSecret": "my-code-credentials"}],
                         ids=["chart-created", "existing"])
def test_every_credential_reaches_pods_only_through_secret_key_refs(chart):
    objects = render_chart({**CONFIG, "codeCredentials": chart})
    name = chart.get("existingSecret", SECRET)
    containers, cluster = every_container(objects)
    for owner in ("Job", "DaskCluster scheduler", "DaskCluster worker"):
        container = next(c for o, c in containers if o.startswith(owner))
        env = env_of(container)
        for key in credentials.ENV:
            assert env[key] == {"secretKeyRef": {"name": name, "key": key, "optional": True}}, (owner, key)
    for owner, container in containers:
        for entry in container.get("env", []):
            if entry["name"] in credentials.ENV:
                assert set(entry) == {"name", "valueFrom"} and set(entry["valueFrom"]) == {"secretKeyRef"}, owner
        assert "envFrom" not in container, owner
    # Nowhere but in the Secret, in any encoding, in any object (the DaskCluster included).
    texts = [json.dumps(o) for o in objects if o["kind"] != "Secret"] + [json.dumps(cluster)]
    for value in SECRET_VALUES:
        for form in (value, base64.b64encode(value.encode()).decode(), json.dumps(value)[1:-1]):
            assert not any(form in text for text in texts), value


def test_chart_created_secret_holds_exactly_the_given_keys():
    objects = render_chart({**CONFIG, "codeCredentials": {"values": VALUES}})
    secret = next(s for s in by_kind(objects, "Secret") if s["metadata"]["name"] == SECRET)
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == VALUES
    assert env_of(run_container(objects))[ENV_CODE_CREDENTIALS_SECRET] == SECRET


def test_existing_secret_creates_nothing():
    objects = render_chart({**CONFIG, "codeCredentials": {"existingSecret": "mine"}})
    assert not by_kind(objects, "Secret")
    assert env_of(run_container(objects))[ENV_CODE_CREDENTIALS_SECRET] == "mine"


def test_without_code_credentials_no_reference_anywhere():
    objects = render_chart(CONFIG)
    containers, _ = every_container(objects)
    for owner, container in containers:
        names = {e["name"] for e in container.get("env", [])}
        assert not names & {*credentials.ENV, ENV_CODE_CREDENTIALS_SECRET}, owner


def test_the_chart_and_the_runtime_agree_on_the_keys():
    """The Job's env (chart helper), the schema's allowed keys and daskrun.credentials.ENV."""
    objects = render_chart({**CONFIG, "codeCredentials": {"existingSecret": "s"}})
    names = [e["name"] for e in run_container(objects)["env"] if e["name"] in credentials.ENV
             or e["name"].startswith(("DASKRUN_GIT_", "DASKRUN_PIP_"))]
    assert names == list(credentials.ENV)
    from gen_chart import CHART_KEYS_FILE

    schema = json.loads(CHART_KEYS_FILE.read_text())["properties"]["codeCredentials"]
    assert list(schema["properties"]["values"]["properties"]) == list(credentials.ENV)


def test_unknown_credential_key_is_refused_by_the_schema():
    error = render_error({"codeCredentials": {"values": {"GIT_TOKEN": "x"}}})
    assert "GIT_TOKEN" in error


def test_existing_secret_and_values_together_are_refused():
    error = render_error({"codeCredentials": {"existingSecret": "s", "values": {credentials.GIT_TOKEN: "x"}}})
    assert "codeCredentials.existingSecret and codeCredentials.values are both set" in error


EXAMPLES = [
    "https://tok@github.com/me/r.git", "https://u:tok@github.com/me/r.git", "http://u:@h/x",
    "ssh://git:pw@h/r.git", "git+https://tok@github.com/me/pkg", "pkg @ https://u:p@files.corp/p.whl",
    "https://github.com/me/r.git", "ssh://git@github.com/me/r.git", "git@github.com:me/r.git",
    "https://h/path/with@sign", "http://10.1.2.3:8080/simple", "xgboost==2.1.0",
]


@pytest.mark.parametrize("url", EXAMPLES)
def test_chart_refuses_the_same_urls_as_the_runtime(url):
    """The chart's `fail` and daskrun.credentials.has_credential, fed the same inputs."""
    setups = [{"git_repository": {"url": url}}, {"pip_packages": [url]}]
    if url.startswith("http"):
        setups += [{"pip_packages": ["a"], "pip_index_url": url},
                   {"pip_packages": ["a"], "pip_extra_index_urls": ["https://pypi.org/simple", url]}]
    for setup in setups:
        values = {"dask_cluster": {"worker_config": {"setup": setup}}}
        if credentials.has_credential(url):
            error = render_error(values)
            assert "contains a credential" in error and "codeCredentials" in error, error
            assert url not in error  # the refusal does not repeat the credential
        else:
            render_chart(values)
