"""The chart as a whole: lint, the objects of each mode, their namespace, labels and names,
the CRDs and the documented values."""

from __future__ import annotations

import re

from chart_render import (
    CHART,
    CHART_META,
    NAMESPACE,
    RELEASE,
    ROOT,
    by_kind,
    env_of,
    helm,
    one,
    render_chart,
    run_container,
    run_job,
)
from daskrun.context import (
    ENV_CONTROLLER,
)
from daskrun.run_labels import INSTANCE_LABEL, MANAGED_BY_LABEL, RUN_HASH_LABEL


def test_lint_strict():
    helm("lint", "--strict", str(CHART))


def test_lint_strict_with_example_values():
    helm("lint", "--strict", str(CHART), "-f", str(ROOT / "values.example.yaml"))


def test_objects_in_the_default_mode():
    objects = render_chart()
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "Job", "NetworkPolicy", "Pod", "Role", "Role", "RoleBinding", "RoleBinding",
                     "ServiceAccount", "ServiceAccount"]


def test_objects_in_external_mode():
    objects = render_chart({"controller": {"mode": "external"}})
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "Job", "NetworkPolicy", "Pod", "Role", "Role", "RoleBinding", "RoleBinding",
                     "ServiceAccount", "ServiceAccount"]
    assert env_of(run_container(objects))[ENV_CONTROLLER] == "external"


def test_everything_namespaced_in_release_namespace():
    for obj in render_chart():
        assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]
        assert obj["kind"] not in ("ClusterRole", "ClusterRoleBinding", "Namespace")


def test_labels_and_selectors():
    objects = render_chart()
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "daskrun"
        assert labels[INSTANCE_LABEL] == RELEASE
        assert labels[MANAGED_BY_LABEL] == "Helm"
        assert labels["helm.sh/chart"] == f"daskrun-{CHART_META['version']}"
    job = run_job(objects)
    # The full set on the pods too (the Job's pods and the helm test pod): the Job's
    # selector is generated from its uid, so no selector ever carries these.
    for pod_labels in (job["spec"]["template"]["metadata"]["labels"], one(objects, "Pod")["metadata"]["labels"]):
        for key in ("app.kubernetes.io/name", INSTANCE_LABEL, "app.kubernetes.io/version", MANAGED_BY_LABEL,
                    "helm.sh/chart"):
            assert pod_labels[key] == job["metadata"]["labels"][key], key
    assert job["spec"]["template"]["metadata"]["labels"][RUN_HASH_LABEL] == job["metadata"]["labels"][RUN_HASH_LABEL]
    prefixes = {key.split("/")[0] for obj in objects for key in obj["metadata"].get("labels", {}) | obj["metadata"].get("annotations", {})}
    assert not any(p.startswith("daskrun") and p != "daskrun.io" for p in prefixes), prefixes
    assert "selector" not in run_job(objects)["spec"], "the Job controller generates its own selector"


def test_full_name_overrides():
    objects = render_chart({"fullnameOverride": "bench"})
    assert re.match(r"^bench-r1-[0-9a-f]{8}$", run_job(objects)["metadata"]["name"])
    assert one(objects, "ConfigMap")["metadata"]["name"] == run_job(objects)["metadata"]["name"]
    objects = render_chart(name="daskrun-nightly")
    assert re.match(r"^daskrun-nightly-r1-[0-9a-f]{8}$", run_job(objects)["metadata"]["name"])


def test_crds_are_the_pinned_packages():
    from gen_chart import crds

    wanted = crds()
    assert sorted(p.name for p in (CHART / "crds").glob("*.yaml")) == sorted(wanted), "run `make crds`"
    for name, text in wanted.items():
        assert (CHART / "crds" / name).read_text() == text, f"chart/crds/{name} is stale: run `make crds`"
    objects = render_chart(extra=("--include-crds",))
    names = sorted(o["metadata"]["name"] for o in by_kind(objects, "CustomResourceDefinition"))
    assert names == [
        "daskautoscalers.kubernetes.dask.org",
        "daskclusters.kubernetes.dask.org",
        "daskworkergroups.kubernetes.dask.org",
    ]


def test_values_yaml_documents_every_key():
    """helm-docs: every key of values.yaml has a `# --` comment, on itself or an ancestor."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    ancestors: list[tuple[int, bool]] = []  # (indent, documented) of the enclosing keys
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("-") or ":" not in stripped:
            continue
        indent = len(line) - len(line.lstrip())
        while ancestors and ancestors[-1][0] >= indent:
            ancestors.pop()
        above = index - 1
        while above >= 0 and lines[above].strip().startswith("#") and "# --" not in lines[above]:
            above -= 1
        documented = above >= 0 and "# --" in lines[above]
        is_parent = stripped.split(":", 1)[1].strip() == ""
        if not (documented or is_parent or any(doc for _, doc in ancestors)):
            undocumented.append(stripped)
        ancestors.append((indent, documented))
    assert not undocumented, f"keys without a helm-docs `# --` comment: {undocumented}"
