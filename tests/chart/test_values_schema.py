"""values.schema.json: strict, generated from the runtime's config model, and every bad
values file rejected before anything is created, with the key named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chart_render import CHART, render_chart, render_error
from gen_chart import SCHEMA_FILE, schema, schema_text

BAD_VALUES = sorted((Path(__file__).parent / "bad_values").glob("*.yaml"))


def expectations(path: Path) -> list[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: KEY ...'"
    return first[len("# expect: "):].split()


def normalized(error: str) -> str:
    """JSON pointers (/dask_cluster/workers) as dotted keys (dask_cluster.workers)."""
    return re.sub(r"'/([^']*)'", lambda m: "'" + m.group(1).replace("/", ".") + "'", error)


def test_there_are_enough_bad_values_files():
    assert len(BAD_VALUES) >= 20


@pytest.mark.parametrize("path", BAD_VALUES, ids=[p.stem for p in BAD_VALUES])
def test_bad_values_rejected_naming_the_key(path):
    error = normalized(render_error(values_files=(path,)))
    for expected in expectations(path):
        assert expected in error, f"{path.name}: {expected!r} not named in:\n{error}"


def _keys(node: dict, defs: dict, prefix: str = "") -> set[str]:
    """Every key path a schema allows, following $ref and anyOf/oneOf."""
    if "$ref" in node:
        return _keys(defs[node["$ref"].split("/")[-1]], defs, prefix)
    found: set[str] = set()
    for branch in node.get("anyOf", []) + node.get("oneOf", []):
        found |= _keys(branch, defs, prefix)
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        found.add(path)
        found |= _keys(child, defs, path + ".")
    return found


def test_schema_matches_the_config_model():
    """The committed values.schema.json is what `make schema` produces from the runtime's
    config model today; a failure names the keys that drifted."""
    committed = json.loads(SCHEMA_FILE.read_text())
    fresh = schema()
    committed_keys = _keys(committed, committed.get("$defs", {}))
    fresh_keys = _keys(fresh, fresh.get("$defs", {}))
    only_model = sorted(fresh_keys - committed_keys)
    only_committed = sorted(committed_keys - fresh_keys)
    assert not only_model and not only_committed, (
        f"values.schema.json drifted from the config model: missing {only_model}, "
        f"no longer in the model {only_committed}; run `make schema`"
    )
    changed = sorted(
        name for name in set(fresh["$defs"]) | set(committed.get("$defs", {}))
        if fresh["$defs"].get(name) != committed.get("$defs", {}).get(name)
    )
    assert SCHEMA_FILE.read_text() == schema_text(), (
        f"values.schema.json differs from the config model (definitions changed: {changed}); run `make schema`"
    )


def test_chart_keys_are_the_ones_the_runtime_ignores():
    """A chart values file must also be a valid `daskrun run --local` config."""
    from daskrun.chart_path import chart_keys as runtime_chart_keys
    from daskrun.config import CONFIG_KEYS

    from daskrun.dask_pods import POD_KEYS

    source = json.loads((CHART / "schema" / "chart-keys.json").read_text())
    pod_keys = set(source["$defs"]["PodSettings"]["properties"])
    assert pod_keys == set(POD_KEYS), "chart-keys.json's PodSettings and daskrun.dask_pods.PodSettings differ"
    chart_keys = set(source["properties"]) | pod_keys
    assert runtime_chart_keys() == chart_keys, "the runtime reads another chart-keys.json than the chart's"
    assert set(schema()["properties"]) == chart_keys | set(CONFIG_KEYS)


def test_values_yaml_has_and_documents_every_pod_setting():
    """values.yaml is read by helm-docs and users, so it spells the keys; checked here against
    daskrun.dask_pods.POD_KEYS: each has a top-level default, and daskPods.scheduler's
    comment names them all, in the runtime's order."""
    import yaml

    from daskrun.dask_pods import POD_KEYS

    text = (CHART / "values.yaml").read_text()
    assert set(POD_KEYS) <= set(yaml.safe_load(text)), "values.yaml lacks a top-level pod setting"
    comment = text.partition("\n  scheduler: {}")[0].rpartition("# -- Pod settings of the scheduler")[2]
    listed = re.findall(r"`(\w+)`", comment.partition(")")[0])  # the parenthesis lists them
    assert tuple(listed) == POD_KEYS, "daskPods.scheduler's comment in values.yaml lists other pod settings"


def test_schema_is_strict_where_we_own_the_shape():
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed["additionalProperties"] is False
    loose = []
    for name, node in list(committed["properties"].items()) + list(committed["$defs"].items()):
        if name == "global":
            continue  # shared with a parent chart and its other subcharts: their keys too
        if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False:
            loose.append(name)
    assert not loose, f"objects accepting unknown keys: {loose}"


def test_default_values_pass_the_runtime_model():
    import yaml
    from daskrun.config import load_config

    load_config(yaml.safe_load((CHART / "values.yaml").read_text()))
    render_chart()
