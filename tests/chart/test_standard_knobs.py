"""Keys users of other charts look for: image.digest, global.imageRegistry, enabled."""

from __future__ import annotations

import shutil

from chart_render import CHART, DEFAULT_IMAGE, DEFAULT_WORKER_IMAGE, helm, render_chart, render_error, run_container

from daskrun.context import ENV_SCHEDULER_IMAGE, ENV_WORKER_IMAGE

DIGEST = "sha256:" + "ab" * 32


def images(objects) -> set[str]:
    found = set()
    for obj in objects:
        spec = obj["spec"]["template"]["spec"] if obj["kind"] == "Job" else obj.get("spec", {})
        found |= {c["image"] for c in spec.get("containers", [])}
    return found


def test_digest_replaces_the_tag_everywhere():
    objects = render_chart({"image": {"repository": "daskrun", "tag": "any-tag", "digest": DIGEST}})
    assert images(objects) == {f"daskrun@{DIGEST}"}
    env = {e["name"]: e.get("value") for e in run_container(objects)["env"]}
    assert env[ENV_SCHEDULER_IMAGE] == f"daskrun@{DIGEST}"
    # The worker image is another image: the launcher's digest cannot name it; its tag carries over.
    assert env[ENV_WORKER_IMAGE] == "daskrun-worker:any-tag"


def test_the_worker_image_takes_its_own_repository_tag_and_digest():
    env = {e["name"]: e.get("value") for e in run_container(render_chart({
        "image": {"repository": "reg.example/daskrun", "tag": "2.0"},
        "workerImage": {"repository": "reg.example/gpu-worker", "digest": DIGEST},
    }))["env"]}
    assert env[ENV_SCHEDULER_IMAGE] == "reg.example/daskrun:2.0"
    assert env[ENV_WORKER_IMAGE] == f"reg.example/gpu-worker@{DIGEST}"
    tagged = {e["name"]: e.get("value") for e in run_container(render_chart({
        "image": {"tag": "2.0"}, "workerImage": {"repository": "daskrun", "tag": "2.1"},
    }))["env"]}
    assert tagged[ENV_WORKER_IMAGE] == "daskrun:2.1"  # the full image runs the workers too


def test_a_malformed_worker_image_digest_is_rejected_naming_the_key():
    error = render_error({"workerImage": {"digest": "latest"}})
    assert "workerImage" in error and "sha256" in error


def test_global_image_registry_prefixes_the_repository():
    objects = render_chart({"global": {"imageRegistry": "registry.example.com/ml/"}})
    assert images(objects) == {f"registry.example.com/ml/{DEFAULT_IMAGE}"}
    env = {e["name"]: e.get("value") for e in run_container(objects)["env"]}
    assert env[ENV_WORKER_IMAGE] == f"registry.example.com/ml/{DEFAULT_WORKER_IMAGE}"


def test_a_malformed_digest_is_rejected_naming_the_key():
    error = render_error({"image": {"digest": "latest"}})
    assert "digest" in error and "sha256" in error


def test_parent_chart_condition_and_globals(tmp_path):
    """As a dependency with `condition: daskrun.enabled`: off renders nothing of this chart;
    on, the parent's global.imageRegistry reaches it (the schema accepts both keys)."""
    parent = tmp_path / "parent"
    (parent / "charts").mkdir(parents=True)
    (parent / "templates").mkdir()
    shutil.copytree(CHART, parent / "charts" / "daskrun", ignore=shutil.ignore_patterns("crds"))
    (parent / "Chart.yaml").write_text(
        "apiVersion: v2\nname: parent\nversion: 1.0.0\n"
        "dependencies:\n  - name: daskrun\n    version: '*'\n    condition: daskrun.enabled\n")
    (parent / "values.yaml").write_text("global:\n  imageRegistry: mirror.local\ndaskrun:\n  enabled: true\n")
    on = render_chart(chart=parent)
    assert images(on) == {f"mirror.local/{DEFAULT_IMAGE}"}
    off = render_chart({"daskrun": {"enabled": False}}, chart=parent)
    assert off == []
    helm("lint", "--strict", str(parent))
