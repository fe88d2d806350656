"""The run's Job name: a new run whenever the run's config changes, also under `helm template`.

Argo CD and `kubectl apply` render with `helm template`, where the revision is always 1; the
hash of the values in the name is what starts a new Job there (README: GitOps).
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings, strategies as st

from chart_render import render_chart, run_job

from daskrun import credentials
from daskrun.context import MAX_NAME
from daskrun.run_labels import RUN_HASH_LABEL

NAME = re.compile(r"^(?P<prefix>[a-z0-9-]+)-r(?P<revision>[0-9]+)-(?P<hash>[0-9a-f]{8})$")


def job_name(values=None, **kwargs) -> str:
    return run_job(render_chart(values, **kwargs))["metadata"]["name"]


def test_same_values_render_the_same_job_name():
    values = {"run": {"args": {"iterations": 3}}, "dask_cluster": {"workers": 1}}
    assert job_name(values) == job_name(values)


def test_different_run_args_render_different_job_names():
    first = job_name({"run": {"args": {"iterations": 3}}})
    second = job_name({"run": {"args": {"iterations": 4}}})
    assert first != second
    assert NAME.match(first)["revision"] == NAME.match(second)["revision"] == "1"


def test_run_id_forces_a_new_name_with_unchanged_config():
    names = {job_name({"runId": run_id}) for run_id in ("", "2026-11-29", 7)}
    assert len(names) == 3


def test_image_and_chart_settings_change_the_name_too():
    """Whatever a run executes with, not only run/dask_cluster/output: the image, resources."""
    base = job_name()
    assert job_name({"image": {"tag": "0.2.0"}}) != base
    assert job_name({"resources": {"requests": {"cpu": "1"}}}) != base


def test_run_hash_label_matches_the_name():
    job = run_job(render_chart({"runId": "x"}))
    run_hash = NAME.match(job["metadata"]["name"])["hash"]
    assert job["metadata"]["labels"][RUN_HASH_LABEL] == run_hash
    assert job["spec"]["template"]["metadata"]["labels"][RUN_HASH_LABEL] == run_hash


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(release=st.from_regex(r"[a-z][a-z0-9-]{0,51}[a-z0-9]", fullmatch=True),
       # Helm's YAML reader refuses control characters in a values file.
       run_id=st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40))
def test_any_release_and_run_id_give_a_dns_label(release, run_id):
    """Release names up to Helm's 53 characters and any runId: a valid Job name (it is also the
    value of the pods' job-name label), always ending in the revision and the hash."""
    name = job_name({"runId": run_id}, name=release)
    assert len(name) <= MAX_NAME and NAME.match(name), name  # the DaskCluster takes the name
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name


def test_credential_values_are_not_part_of_the_hash():
    """Rotating credentials is not a new run, and they are not published even hashed."""
    output = {"path": "out.csv", "bucket": "bkt"}
    first = job_name({"output": {**output, "key": "AKIA1", "secret_key": "s1"}})
    assert job_name({"output": {**output, "key": "AKIA2", "secret_key": "s2"}}) == first
    tokens = {job_name({"codeCredentials": {"values": {credentials.GIT_TOKEN: token}}}) for token in ("t1", "t2")}
    assert len(tokens) == 1
    assert job_name({"output": {**output, "bucket": "other", "key": "AKIA1", "secret_key": "s1"}}) != first
