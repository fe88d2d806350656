"""`daskrun submit` / run_on_kubernetes and `daskrun preflight`, without a cluster."""

from __future__ import annotations

import json
import os
import sys

import pytest

from cli_runner import REPO as ROOT

from daskrun import preflight, submit, values_check
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
    # Any executable: the kubeconfig is checked before Helm runs.
    monkeypatch.setenv("DASKRUN_HELM", sys.executable)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert submit.cli_submit(str(ROOT / "values.example.yaml"), "default", None, False) == 2
    error = capsys.readouterr().err
    assert "no kubeconfig found" in error and "KUBECONFIG" in error


def test_kubeconfig_variable_naming_no_file(monkeypatch, tmp_path, capsys):
    # Any executable: the kubeconfig is checked before Helm runs.
    monkeypatch.setenv("DASKRUN_HELM", sys.executable)
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
    config = {**CONFIG, "output": {"bucket": "my-bucket", "path": "r.csv", "key": "AK", "secret_key": "SK"},
              "workerRunAsRoot": False}
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
    assert "daskrun watch x -n runs" in printed and "daskrun logs x -n runs -f" in printed


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
    assert values_check.default_release(function) == release


def test_invalid_release_name(kubeconfig, capsys):
    assert submit.cli_submit(str(ROOT / "values.example.yaml"), "default", "Bad_Name", False) == 2
    assert "release name 'Bad_Name' is invalid" in capsys.readouterr().err


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


def test_submit_without_a_namespace_installs_into_the_kubeconfigs_like_every_command(tmp_path, monkeypatch, capsys):
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u, namespace: team-a}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("DASKRUN_POD_NAMESPACE", raising=False)
    record = tmp_path / "record.json"
    fake = tmp_path / "helm"
    fake.write_text(FAKE_HELM.format(python=sys.executable, record=str(record)))
    fake.chmod(0o755)
    monkeypatch.setenv("DASKRUN_HELM", str(fake))
    assert submit.cli_submit(str(ROOT / "values.example.yaml"), None, "x", False) == 0
    seen = json.loads(record.read_text())
    assert seen["args"][seen["args"].index("--namespace") + 1] == "team-a"
    assert "in namespace team-a" in capsys.readouterr().out
