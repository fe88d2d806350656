"""configmap.yaml: the run's config as the runtime reads it, without credentials."""

from __future__ import annotations

import json
import re

import yaml

from chart_render import (
    KEY,
    ROOT,
    S3,
    SECRET_KEY,
    one,
    render_chart,
    run_job,
)
from daskrun import safe_yaml


def run_config(configmap):
    """The config keys of the ConfigMap's file (the Dask pods' settings are tested in
    test_dask_pods_render.py)."""
    config = yaml.safe_load(configmap["data"]["config.yaml"])
    config.pop("daskPods")
    return config


def test_configmap_holds_the_config_without_credentials():
    values = {
        "run": {"function": "pkg.mod.fn", "args": {"n": 3, "text": "$HOME `x` \\"}},
        "dask_cluster": {"workers": {"minimum": 1, "maximum": 3}},
        "output": {**S3, "key": KEY, "secret_key": SECRET_KEY, "region": "eu-west-1"},
    }
    configmap = one(render_chart(values), "ConfigMap")
    config = run_config(configmap)
    assert config == {
        "run": {"function": "pkg.mod.fn", "args": {"n": 3, "text": "$HOME `x` \\"}},
        "dask_cluster": {"workers": {"minimum": 1, "maximum": 3}},
        "output": {**S3, "region": "eu-west-1"},
    }


def test_configmap_keeps_every_value_type(tmp_path):
    """What the runtime's reader gets back is what the values file said: small and huge
    floats stay floats, the key `n` stays a string, strings stay strings. The file is JSON:
    a JSON reader gets the same."""
    values = tmp_path / "values.yaml"
    values.write_text(
        "run:\n  function: a.b\n  args:\n"
        "    lr: 0.00001\n    tiny: 1.5e-7\n    huge: 1e21\n    neg: -2e-9\n    grid: [1e-07, 2]\n"
        '    "n": 3\n    text: "x: 1e-05"\n    lines: "a\\nb: 1e-05"\n    flag: true\n    none: null\n'
        '    version: "1.10"\n'
    )
    text = one(render_chart(values_files=(values,)), "ConfigMap")["data"]["config.yaml"]
    expected = {
        "lr": 0.00001, "tiny": 1.5e-7, "huge": 1e21, "neg": -2e-9, "grid": [1e-07, 2], "n": 3,
        "text": "x: 1e-05", "lines": "a\nb: 1e-05", "flag": True, "none": None, "version": "1.10",
    }
    for config in (safe_yaml.load(text), json.loads(text)):
        assert config["run"]["args"] == expected
        assert {key: type(value) for key, value in config["run"]["args"].items()} == {
            key: type(value) for key, value in expected.items()}


def test_configmap_leaves_out_empty_sections():
    config = run_config(one(render_chart(), "ConfigMap"))
    assert config == {"run": {"function": "daskrun.examples.benchmark.run_benchmark", "args": {}}}


def test_values_example_renders():
    objects = render_chart(values_files=(ROOT / "values.example.yaml",))
    config = run_config(one(objects, "ConfigMap"))
    example = yaml.safe_load((ROOT / "values.example.yaml").read_text())
    expected = {key: example[key] for key in ("run", "dask_cluster", "output") if example.get(key)}
    for secret in ("key", "secret_key"):
        expected.get("output", {}).pop(secret, None)
    assert config == expected
    assert re.match(r"^demo-daskrun-r1-[0-9a-f]{8}$", run_job(objects)["metadata"]["name"])
