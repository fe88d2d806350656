"""Pod settings of the Dask pods, extended resources, the wait-for-workers rule, Pending
reasons and the embedded controller's quiet timers."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daskrun.context import RunContext
from daskrun.manifest import build_cluster_spec, container_resources, dask_resources
from daskrun.config import load_config
from daskrun.errors import ConfigError
from daskrun.dask_pods import (MERGED_KEYS, POD_KEYS, PodSettings, chart_fullname, dask_account_name,
                               dask_resource_name, parse_dask_pods)
from daskrun.embedded_controller import _QuietTimers
from daskrun.scheduling import summarize, unschedulable

from cli_runner import run_cli

RUN = {"run": {"function": "daskrun.examples.benchmark.run_benchmark"}}


def errors_of(values, release="demo"):
    with pytest.raises(ConfigError) as info:
        parse_dask_pods(values, release)
    return dict(info.value.errors)


# --- pod settings ---------------------------------------------------------------------------

def test_top_level_settings_apply_to_both_roles_and_overrides_to_one():
    pods = parse_dask_pods({"nodeSelector": {"pool": "a"}, "priorityClassName": "high",
                            "daskPods": {"workers": {"priorityClassName": "low"}}}, "demo")
    assert pods.scheduler.nodeSelector == pods.workers.nodeSelector == {"pool": "a"}
    assert (pods.scheduler.priorityClassName, pods.workers.priorityClassName) == ("high", "low")
    assert pods.service_account == "demo-daskrun-dask"


def test_chart_defaults_for_nothing_set_nothing():
    pods = parse_dask_pods({"nodeSelector": {}, "tolerations": [], "priorityClassName": "",
                            "daskPods": {"scheduler": {}, "workers": {}}}, "demo")
    assert pods.workers == pods.scheduler == PodSettings()


def test_no_release_no_service_account_unless_named():
    assert parse_dask_pods({}, None).service_account is None
    named = parse_dask_pods({"daskPods": {"serviceAccount": {"name": "team"}}}, None)
    assert named.service_account == "team"


@pytest.mark.parametrize("values, key, words", [
    ({"daskPods": {"workers": {"nodeSelectr": {}}}}, "daskPods.workers.nodeSelectr", "unknown key"),
    ({"tolerations": {"key": "x"}}, "tolerations", "list"),
    ({"nodeSelector": {"pool": 1}}, "nodeSelector.pool", "string"),
    ({"imagePullSecrets": ["regcred"]}, "imagePullSecrets[0]", "mapping"),
    ({"daskPods": {"serviceAccount": {"create": False}}}, "daskPods.serviceAccount.name", "required"),
    ({"daskPods": {"serviceAccount": {"name": "Bad_Name"}}}, "daskPods.serviceAccount.name", ""),
    ({"daskPods": {"readOnlyRootFilesystem": "yes"}}, "daskPods.readOnlyRootFilesystem", ""),
])
def test_bad_settings_name_the_key(values, key, words):
    errors = errors_of(values)
    assert key in errors, errors
    assert words in errors[key]


def test_cli_reports_config_and_pod_errors_together_with_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("run: {function: 'not an import path'}\ndaskPods: {workers: {tolerationz: []}}\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "run.function" in result.stderr and "daskPods.workers.tolerationz" in result.stderr


def test_read_only_root_filesystem_refused_with_apt_and_kept_with_pip(tmp_path):
    path = tmp_path / "ro.yaml"
    path.write_text("run: {function: a.b}\nworkerRunAsRoot: true\n"
                    "dask_cluster: {worker_config: {setup: {apt_packages: [jq], pip_packages: [x]}}}\n"
                    "daskPods: {readOnlyRootFilesystem: true}\n")
    result = run_cli("run", str(path), "--dry-run")
    assert result.returncode == 2
    assert "daskPods.readOnlyRootFilesystem" in result.stderr and "apt_packages" in result.stderr
    path.write_text("run: {function: a.b}\ndask_cluster: {worker_config: {setup: {pip_packages: [x]}}}\n"
                    "daskPods: {readOnlyRootFilesystem: true}\n")
    result = run_cli("run", str(path), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "step writable_environment" in result.stdout and "readOnlyRootFilesystem: true" in result.stdout


names = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["1", "2"]), max_size=3)
settings = st.fixed_dictionaries({}, optional={
    "nodeSelector": names, "podLabels": names, "podAnnotations": names,
    "priorityClassName": st.sampled_from(["x", "y"]),
    "tolerations": st.lists(st.fixed_dictionaries({"key": st.sampled_from(["t", "u"])}), max_size=2),
})


@given(top=settings, role=settings)
def test_an_override_replaces_given_keys_and_merges_maps(top, role):
    merged = PodSettings.model_validate(top).overridden_by(PodSettings.model_validate(role))
    for key in POD_KEYS:
        value = getattr(merged, key)
        if key in MERGED_KEYS and (key in top or key in role):
            assert value == {**top.get(key, {}), **role.get(key, {})}
        elif key in role:
            assert value == role[key]
        else:
            assert value == top.get(key)


@given(release=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?", fullmatch=True))
def test_service_account_name_is_a_dns_name_ending_in_dask(release):
    name = dask_account_name(release, {})
    assert len(name) <= 63 and name.endswith("-dask") and "--" not in name[-6:]
    assert name.startswith(chart_fullname(release, {})[:58].rstrip("-"))


# --- extended resources ---------------------------------------------------------------------

def test_extended_resources_become_requests_limits_and_dask_resources():
    config = load_config({**RUN, "dask_cluster": {"worker_config": {"resources": {
        "cpu": 1, "nvidia.com/gpu": 2, "example.com/dongle": 1, "ephemeral-storage": "5Gi"}}}})
    resources = container_resources(config.dask_cluster.worker_config.resources)
    assert resources["requests"] == resources["limits"] == {
        "cpu": "1", "ephemeral-storage": "5Gi", "nvidia.com/gpu": "2", "example.com/dongle": "1"}
    assert dask_resources(config) == {"GPU": 2, "example.com/dongle": 1}
    args = build_cluster_spec(config, RunContext())["spec"]["worker"]["spec"]["containers"][0]["args"]
    assert args[args.index("--resources") + 1] == "GPU=2,example.com/dongle=1"


def test_no_resources_flag_without_extended_resources():
    args = build_cluster_spec(load_config(RUN), RunContext())["spec"]["worker"]["spec"]["containers"][0]["args"]
    assert "--resources" not in args


@pytest.mark.parametrize("name, dask", [("nvidia.com/gpu", "GPU"), ("amd.com/gpu", "GPU"),
                                        ("gpu.intel.com/i915", "GPU"), ("example.com/gpu", "example.com/gpu")])
def test_gpus_of_every_vendor_are_dask_gpus(name, dask):
    assert dask_resource_name(name) == dask


@pytest.mark.parametrize("resources, key, words", [
    ({"gpu": 1}, "gpu", "extended resource such as nvidia.com/gpu"),
    ({"nvidia.com/gpu": 0}, "nvidia.com/gpu", "whole number"),
    ({"nvidia.com/gpu": "1.5"}, "nvidia.com/gpu", "whole number"),
    ({"nvidia.com/gpu": True}, "nvidia.com/gpu", "whole number"),
    ({"ephemeral-storage": "lots"}, "ephemeral-storage", "quantity"),
])
def test_bad_resources_name_the_key(resources, key, words):
    with pytest.raises(ConfigError) as info:
        load_config({**RUN, "dask_cluster": {"worker_config": {"resources": resources}}})
    errors = dict(info.value.errors)
    assert words in errors[f"dask_cluster.worker_config.resources.{key}"]


# --- the wait-for-workers rule ----------------------------------------------------------------

@pytest.mark.parametrize("cluster, expected", [
    ({}, 2), ({"workers": 3}, 3), ({"workers": {"minimum": 1, "maximum": 4}}, 1),
    ({"workers": 3, "wait_for_workers": {"minimum": 1}}, 1),
    ({"workers": {"minimum": 0, "maximum": 4}, "wait_for_workers": {"minimum": 2}}, 2),
])
def test_workers_to_wait_for(cluster, expected):
    assert load_config({**RUN, "dask_cluster": cluster}).dask_cluster.workers_to_wait_for == expected


@pytest.mark.parametrize("cluster, key", [
    ({"workers": 2, "wait_for_workers": {"minimum": 3}}, "dask_cluster"),
    ({"wait_for_workers": {"timeout": 0}}, "dask_cluster.wait_for_workers.timeout"),
    ({"wait_for_workers": {"minimum": -1}}, "dask_cluster.wait_for_workers.minimum"),
    ({"wait_for_workers": {"minimun": 1}}, "dask_cluster.wait_for_workers.minimun"),
])
def test_bad_wait_for_workers(cluster, key):
    with pytest.raises(ConfigError) as info:
        load_config({**RUN, "dask_cluster": cluster})
    assert key in dict(info.value.errors)


# --- Pending reasons --------------------------------------------------------------------------

def pod(phase="Pending", message="0/1 nodes are available: 1 Insufficient cpu.", role="worker"):
    conditions = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}]
    return {"metadata": {"labels": {"dask.org/component": role}},
            "status": {"phase": phase, "conditions": conditions if phase == "Pending" else []}}


def test_unschedulable_reason_is_the_schedulers_message():
    assert unschedulable(pod()) == "0/1 nodes are available: 1 Insufficient cpu."
    assert unschedulable(pod(phase="Running")) is None
    pulling = {"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}}
    assert unschedulable(pulling) is None


def test_pending_pods_are_summed_up_per_role_and_reason():
    summary = summarize([pod(), pod(), pod(role="scheduler", message="taint"), pod(phase="Running")])
    assert summary == {"2 worker pods Pending": "0/1 nodes are available: 1 Insufficient cpu.",
                       "1 scheduler pod Pending": "taint"}


# --- the embedded controller's timers ---------------------------------------------------------

@pytest.mark.parametrize("level, message, shown", [
    (logging.INFO, "Timer 'daskcluster_autoshutdown' succeeded.", False),
    (logging.WARNING, "Timer 'daskautoscaler_adapt' failed temporarily: boom", True),
    (logging.INFO, "Handler 'daskcluster_create' succeeded.", True),
])
def test_timer_success_lines_are_silenced_not_their_warnings(level, message, shown):
    record = logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)
    assert _QuietTimers().filter(record) is shown
