"""`daskrun submit` / run_on_kubernetes and `daskrun preflight`, without a cluster."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import CHART, HELM, ROOT, one, render_chart

from daskrun import preflight, submit
from daskrun.chart_path import chart_path
from daskrun.context import CONTROLLER_MODES

CONFIG = {"run": {"function": "daskrun.examples.benchmark.run_benchmark", "args": {"iterations": 2}}}


@pytest.fixture
def kubeconfig(tmp_path, monkeypatch):
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def no_helm(tmp_path, monkeypatch):
    monkeypatch.delenv("DASKRUN_HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))


def test_missing_helm_is_named(no_helm, kubeconfig, capsys):
    assert submit.cli_submit(str(ROOT / "values.example.yaml"), "default", None, False) == 2
    error = capsys.readouterr().err
    assert "helm not found" in error and "DASKRUN_HELM" in error and "PATH" in error


def test_bad_daskrun_helm_is_named(kubeconfig, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DASKRUN_HELM", str(tmp_path / "nope" / "helm"))
    assert submit.cli_submit(str(ROOT / "values.example.yaml"), "default", None, False) == 2
    assert "DASKRUN_HELM=" in capsys.readouterr().err


def test_missing_kubeconfig_is_named(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DASKRUN_HELM", HELM)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert submit.cli_submit(str(ROOT / "values.example.yaml"), "default", None, False) == 2
    error = capsys.readouterr().err
    assert "no kubeconfig found" in error and "KUBECONFIG" in error


def test_kubeconfig_variable_naming_no_file(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DASKRUN_HELM", HELM)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert submit.cli_submit(str(ROOT / "values.example.yaml"), "default", None, False) == 2
    assert "KUBECONFIG=" in capsys.readouterr().err


def test_invalid_config_rejected_before_helm(no_helm, kubeconfig, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: {function: pkg.fn}\ndask_cluster: {workers: -2}\n")
    assert submit.cli_submit(str(bad), "default", None, False) == 2
    assert "dask_cluster.workers" in capsys.readouterr().err


FAKE_HELM = r"""#!{python}
import json, os, stat, sys
args = sys.argv[1:]
values = args[args.index("--values") + 1]
record = {{"args": args, "mode": stat.S_IMODE(os.stat(values).st_mode), "values": open(values).read()}}
open({record!r}, "w").write(json.dumps(record))
print(json.dumps({{"name": args[2], "version": 3, "manifest": "kind: Job\nmetadata:\n  name: x-daskrun-r3\n"}}))
"""


def test_submit_installs_the_packaged_chart_with_a_private_values_file(kubeconfig, tmp_path, monkeypatch, capsys):
    record = tmp_path / "record.json"
    fake = tmp_path / "helm"
    fake.write_text(FAKE_HELM.format(python=sys.executable, record=str(record)))
    fake.chmod(0o755)
    monkeypatch.setenv("DASKRUN_HELM", str(fake))
    config = {**CONFIG, "output": {"bucket": "b", "path": "r.csv", "key": "AK", "secret_key": "SK"}, "workerRunAsRoot": False}
    assert submit.run_on_kubernetes(config, namespace="runs", release="x") == 0
    seen = json.loads(record.read_text())
    assert seen["args"][:4] == ["upgrade", "--install", "x", str(chart_path())]
    assert seen["args"][seen["args"].index("--namespace") + 1] == "runs"
    assert seen["mode"] == 0o600
    assert json.loads(seen["values"]) == config
    values_file = seen["args"][seen["args"].index("--values") + 1]
    assert not os.path.exists(values_file), "the values file (with credentials) must be deleted"
    printed = capsys.readouterr().out
    assert "release x (revision 3) in namespace runs" in printed
    assert "kubectl logs -n runs -f job/x-daskrun-r3" in printed


def test_helm_failure_is_reported(kubeconfig, tmp_path, monkeypatch, capsys):
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho 'Error: values don'\"'\"'t meet the specifications' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("DASKRUN_HELM", str(fake))
    assert submit.cli_submit(str(ROOT / "values.example.yaml"), "default", "bench", False) == 2
    assert "meet the specifications" in capsys.readouterr().err


@pytest.mark.parametrize(
    "function, release",
    [
        ("daskrun.examples.benchmark.run_benchmark", "run-benchmark"),
        ("pkg.mod:Main_Job", "main-job"),
        ("pkg._private", "private"),
        ("pkg.x" + "y" * 80, "x" + "y" * 52),
    ],
)
def test_default_release_name(function, release):
    assert submit.default_release(function) == release


def test_invalid_release_name(kubeconfig, capsys):
    assert submit.cli_submit(str(ROOT / "values.example.yaml"), "default", "Bad_Name", False) == 2
    assert "release name 'Bad_Name' is invalid" in capsys.readouterr().err


def test_chart_path_is_the_repository_chart():
    assert (chart_path() / "Chart.yaml").read_text() == (CHART / "Chart.yaml").read_text()


def _rules_as_needs(controller: str) -> set[preflight.Need]:
    rules = one(render_chart({"controller": {"mode": controller}}), "Role")["rules"]
    needs = set()
    for rule in rules:
        if rule.get("resourceNames"):
            continue  # the helm test's read of this revision's Job
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                name, _, sub = resource.partition("/")
                for verb in rule["verbs"]:
                    needs.add(preflight.Need(group, name, verb, sub))
    return needs


@pytest.mark.parametrize("controller", CONTROLLER_MODES)
def test_preflight_checks_exactly_what_the_role_grants(controller):
    assert set(preflight.required(controller)) == _rules_as_needs(controller)


def test_preflight_rejects_invalid_config(tmp_path, capsys):
    bad = tmp_path / "config.yaml"
    bad.write_text("run: {function: pkg.fn, extra: 1}\n")
    assert preflight.cli_preflight(str(bad), "ns", "rel", "external") == 2
    out = capsys.readouterr().out
    assert "FAIL  config" in out and "run.extra" in out


def test_preflight_without_cluster_credentials_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert preflight.cli_preflight(str(ROOT / "values.example.yaml"), "ns", "rel", "embedded") == 1
    out = capsys.readouterr().out
    assert "ok    config" in out and "FAIL  cluster" in out


def test_built_wheel_contains_the_chart(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    [wheel] = tmp_path.glob("daskrun-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in sorted(CHART.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            member = "daskrun/chart/" + path.relative_to(CHART).as_posix()
            assert member in names, f"{member} missing from {wheel.name}"
    assert "daskrun/chart/templates/job.yaml" in names and "daskrun/chart/.helmignore" in names
    assert "daskrun/submit.py" in names and "daskrun/preflight.py" in names
