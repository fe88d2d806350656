"""The run's context as the chart's pod passes it (environment) or a person does (flags)."""

from __future__ import annotations

import json

import pytest

from daskrun import context as ctx
from daskrun._version import __version__
from daskrun.chart_path import chart_path

ENV_NAMES = [value for name, value in vars(ctx).items() if name.startswith("ENV_")]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return monkeypatch


def test_without_flags_or_environment(clean_env):
    context = ctx.from_flags()
    assert (context.namespace, context.controller, context.image) == ("default", ctx.DEFAULT_CONTROLLER,
                                                                       f"daskrun:{__version__}")
    assert context.release is None and context.pod_name is None and not context.worker_run_as_root
    assert context.name.startswith("daskrun-")
    assert context.workers_image == context.image  # without a slim image, the full one runs workers


def test_the_chart_environment_fills_the_context(clean_env):
    for name, value in {ctx.ENV_NAMESPACE: "runs", ctx.ENV_RELEASE: "bench", ctx.ENV_RUN_ID: "7",
                        ctx.ENV_CONTROLLER: "embedded", ctx.ENV_POD_NAME: "bench-r7-x",
                        ctx.ENV_SCHEDULER_IMAGE: "reg/img:1", ctx.ENV_WORKER_IMAGE: "reg/img-worker:1",
                        ctx.ENV_WORKER_RUN_AS_ROOT: "true"}.items():
        clean_env.setenv(name, value)
    context = ctx.from_flags()
    assert (context.namespace, context.release, context.run_id, context.controller, context.pod_name,
            context.image, context.worker_run_as_root) == ("runs", "bench", "7", "embedded", "bench-r7-x",
                                                           "reg/img:1", True)
    assert context.workers_image == "reg/img-worker:1"
    assert context.name.startswith("bench-r7-")


def test_flags_win_over_the_environment(clean_env):
    clean_env.setenv(ctx.ENV_NAMESPACE, "from-env")
    clean_env.setenv(ctx.ENV_CONTROLLER, "embedded")
    context = ctx.from_flags(namespace="from-flag", controller="external", release="r")
    assert (context.namespace, context.controller, context.release) == ("from-flag", "external", "r")


def test_an_empty_variable_counts_as_unset(clean_env):
    clean_env.setenv(ctx.ENV_CONTROLLER, "")
    clean_env.setenv(ctx.ENV_NAMESPACE, "")
    assert ctx.controller_default() == ctx.DEFAULT_CONTROLLER
    assert ctx.current_namespace() == "default"


def test_outside_a_pod_the_kubeconfig_context_names_the_namespace(clean_env, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "team-a"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    clean_env.setenv("KUBECONFIG", str(kubeconfig))
    assert ctx.current_namespace() == "team-a"
    assert ctx.current_namespace("given") == "given"


def test_the_controller_modes_are_the_charts():
    # `make schema` writes the enum from CONTROLLER_MODES into the generated schema.
    schema = json.loads((chart_path() / "values.schema.json").read_text())
    assert schema["properties"]["controller"]["properties"]["mode"]["enum"] == list(ctx.CONTROLLER_MODES)
    assert ctx.DEFAULT_CONTROLLER in ctx.CONTROLLER_MODES


def test_the_chart_sets_only_variables_the_runtime_reads():
    """The chart's pods get their DASKRUN_* variables through the generated contract only
    (chart/templates/_contract.tpl, daskrun.chart_contract), each one daskrun.context reads:
    no name typed in a template, where a renamed constant would leave it behind."""
    import re

    from daskrun import context

    templates = chart_path() / "templates"
    included = set()
    for template in ("job.yaml", "tests/test-preflight.yaml"):
        text = (templates / template).read_text()
        assert not re.findall(r"name: (DASKRUN_[A-Z_]+)", text), template
        included |= set(re.findall(r'name: \{\{ include "daskrun\.contract\.context\.(ENV_[A-Z_]+)"', text))
    assert included, "the templates name no variable through the contract"
    assert {getattr(context, name) for name in included} <= set(ENV_NAMES)
