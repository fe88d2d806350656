"""`daskrun preflight` against a fake API server on loopback (`submit --wait` is test_watch's)."""

from __future__ import annotations

import io

import pytest

from cli_runner import REPO as ROOT
from fake_kube import job

from daskrun import preflight

JOB = "demo-daskrun-r1"
CONFIG = str(ROOT / "values.example.yaml")


@pytest.fixture
def kube(fake_api, monkeypatch):
    monkeypatch.setattr(preflight, "PROBE_WAIT", 0.3)
    monkeypatch.setenv("DASKRUN_JOB_NAME", JOB)
    return fake_api


def run_preflight(controller: str = "embedded") -> tuple[int, str]:
    out = io.StringIO()
    code = preflight.cli_preflight(CONFIG, "runs", "demo", controller, out=out)
    return code, out.getvalue()


def test_preflight_passes_and_reports_the_run(kube):
    kube.jobs[JOB] = job(JOB, active=1)
    code, out = run_preflight()
    assert code == 0, out
    assert "ok    config" in out and "ok    crds" in out and "ok    permissions" in out
    assert f"info  run: job/{JOB} running: 1 active" in out
    assert len(kube.reviews) == len(preflight.required("embedded"))
    assert all(review["namespace"] == "runs" for review in kube.reviews)


OPERATOR_MARKS = {"finalizers": ["kopf.zalando.org/KopfFinalizerMarker"],
                  "annotations": {"kopf.zalando.org/daskworkergroup_create": "{}"}}


def test_preflight_external_mode_asks_less(kube):
    kube.operator_marks = OPERATOR_MARKS
    code, out = run_preflight("external")
    assert code == 0, out
    assert len(kube.reviews) == len(preflight.required("external")) < len(preflight.required("embedded"))


def test_preflight_fails_without_the_crds(kube):
    kube.crds.clear()
    code, out = run_preflight()
    assert code == 1
    assert "FAIL  crds: kubernetes.dask.org/v1 is not served" in out


def test_preflight_names_a_missing_crd(kube):
    kube.crds.discard("daskautoscalers")
    code, out = run_preflight()
    assert code == 1 and "daskautoscalers.kubernetes.dask.org" in out


def test_preflight_names_denied_permissions(kube):
    kube.denied = {("apps", "deployments", "", "create"), ("kubernetes.dask.org", "daskclusters", "scale", "patch")}
    code, out = run_preflight()
    assert code == 1
    assert "create deployments.apps" in out and "patch daskclusters/scale.kubernetes.dask.org" in out


def test_preflight_reports_a_failed_run_without_failing(kube):
    kube.jobs[JOB] = job(JOB, failed=1, condition="Failed")
    code, out = run_preflight()
    assert code == 0
    assert f"job/{JOB} failed (PodFailurePolicy" in out


def test_preflight_reports_a_missing_job(kube):
    code, out = run_preflight()
    assert code == 0 and f"job/{JOB} not found" in out


def test_preflight_reports_the_embedded_controller_where_no_operator_reacts(kube):
    code, out = run_preflight("auto")
    assert code == 0, out
    assert "ok    controller: the embedded controller will drive runs: no dask operator reacted" in out
    assert not kube.worker_groups, "the probe is deleted"


def test_preflight_reports_the_operator_that_marks_the_probe(kube):
    kube.operator_marks = OPERATOR_MARKS
    code, out = run_preflight("auto")
    assert code == 0, out
    assert "ok    controller: the dask operator will drive runs: the dask-kubernetes operator" in out
    assert "finalizer kopf.zalando.org/KopfFinalizerMarker" in out
    assert not kube.worker_groups


def test_preflight_fails_embedded_mode_beside_an_operator(kube):
    kube.operator_marks = OPERATOR_MARKS
    code, out = run_preflight("embedded")
    assert code == 1
    assert "FAIL  controller: the dask-kubernetes operator installed in the cluster acts on dask resources in runs" in out
    assert "exit 4" in out and "set controller.mode auto or external" in out


def test_preflight_fails_external_mode_without_an_operator(kube):
    code, out = run_preflight("external")
    assert code == 1
    assert "FAIL  controller: no dask operator reacted to a probe in runs" in out


def test_preflight_rejects_an_unknown_mode(kube):
    code, out = run_preflight("sometimes")
    assert code == 2 and "mode must be one of auto, embedded, external, got 'sometimes'" in out
