"""The Helm ecosystem's own checks: helm-docs drift, `ct lint`, kubeconform (strict) against
schemas generated offline from the Kubernetes OpenAPI and the chart's CRDs.

The tools are the pinned ones `make chart-tools` builds into .tools/bin; Helm is $HELM (the
suite runs with Helm 3 and with Helm 4).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from chart_render import CHART, HELM, ROOT, one, render_chart
import kube_schemas as kube_schemas_module
from kube_schemas import kubernetes_version, write as write_kube_schemas

TOOLS = ROOT / ".tools"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
RENDERS = [None, ROOT / "values.example.yaml", *CI_VALUES]


def tool(name: str) -> str:
    path = TOOLS / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} not found: run `make chart-tools`", pytrace=False)
    return str(path)


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, f"{shlex.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_ci_values_cover_the_non_default_paths():
    names = {p.name.removesuffix("-values.yaml") for p in CI_VALUES}
    assert {"adaptive-workers", "s3-existing-secret", "external-controller", "existing-service-account",
            "pvc-output", "apt-as-root"} <= names


def test_readme_is_what_helm_docs_generates(tmp_path):
    """chart/README.md is generated (make chart-docs); a values.yaml comment change without
    regenerating it fails here."""
    copy = tmp_path / "repo"
    (copy / "chart").mkdir(parents=True)
    for name in ("Chart.yaml", "values.yaml", "README.md.gotmpl", "README.md"):
        shutil.copy(CHART / name, copy / "chart" / name)
    command = shlex.split(run("make", "-s", "--no-print-directory", "print-helm-docs-cmd").stdout)
    command[0] = tool("helm-docs")
    run(*command, cwd=copy)
    generated = (copy / "chart" / "README.md").read_text()
    assert generated == (CHART / "README.md").read_text(), "chart/README.md is stale: run `make chart-docs`"


def test_ct_lint_with_every_ci_values_file(tmp_path):
    """chart-testing's lint: Chart.yaml schema (yamale), yamllint, `helm lint` per ci values."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(HELM)
    etc = TOOLS / "etc" / "ct"
    path = os.pathsep.join([str(bin_dir), str(ROOT / ".venv" / "bin"), os.environ.get("PATH", "")])
    result = run(tool("ct"), "lint", "--charts", "chart", "--validate-maintainers=false",
                 "--check-version-increment=false", "--lint-conf", str(etc / "lintconf.yaml"),
                 "--chart-yaml-schema", str(etc / "chart_schema.yaml"),
                 env={"PATH": path, "HOME": str(tmp_path)})
    for values in CI_VALUES:
        assert f'values file "chart/ci/{values.name}"' in result.stdout, values.name
    assert "All charts linted successfully" in result.stdout


@pytest.fixture(scope="session")
def kube_schemas() -> Path:
    """Generated once per Kubernetes version and CRD set into .tools (no network but the Go
    module proxy, and only if the cluster build has not downloaded the module yet)."""
    crds = sorted((CHART / "crds").glob("*.yaml"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in crds) + Path(kube_schemas_module.__file__).read_bytes())
    out = TOOLS / "kubeconform-schemas" / f"{kubernetes_version()}-{digest.hexdigest()[:12]}"
    if not (out / "job-batch-v1.json").exists():
        write_kube_schemas(out, crds)
    return out


def kubeconform(schemas: Path, manifest: str, tmp_path: Path) -> str:
    path = tmp_path / "manifest.yaml"
    path.write_text(manifest)
    return run(tool("kubeconform"), "-strict", "-summary", "-schema-location",
               f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json", str(path)).stdout


@pytest.mark.parametrize("values", RENDERS, ids=lambda p: p.name if p else "defaults")
def test_every_render_is_valid_kubernetes_strictly(values, kube_schemas, tmp_path):
    """Every object `helm template` renders (the helm test pod included) is what the
    Kubernetes 1.34 API accepts with strict field validation."""
    objects = render_chart(values_files=(values,) if values else ())
    # As JSON: PyYAML writes a string like 86749e22 bare, which YAML 1.2 (kubeconform, Helm,
    # kubectl) reads as a number; JSON keeps every type as rendered.
    out = kubeconform(kube_schemas, "\n---\n".join(json.dumps(o) for o in objects), tmp_path)
    assert f"Valid: {len(objects)}, Invalid: 0, Errors: 0, Skipped: 0" in out, out


def test_kubeconform_rejects_what_the_api_server_would(kube_schemas, tmp_path):
    """The schemas are strict: an unknown field and the podFailurePolicy rule without the
    `status` the OpenAPI requires both fail."""
    job = one(render_chart(), "Job")
    job["spec"]["template"]["spec"]["bogus"] = True
    del job["spec"]["podFailurePolicy"]["rules"][1]["onPodConditions"][0]["status"]
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    result = subprocess.run([tool("kubeconform"), "-strict", "-schema-location",
                             f"{kube_schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json", str(path)],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "'bogus' not allowed" in result.stdout and "missing property 'status'" in result.stdout, result.stdout


def test_runtime_dask_cluster_manifest_matches_the_crd(kube_schemas, tmp_path):
    """The DaskCluster the runtime creates (its --dry-run manifest) against the shipped CRD."""
    result = run(str(ROOT / ".venv" / "bin" / "daskrun"), "run", str(ROOT / "values.example.yaml"), "--dry-run")
    docs = [d for d in yaml.safe_load_all(result.stdout) if isinstance(d, dict) and d.get("kind")]
    assert any(d["kind"] == "DaskCluster" for d in docs), result.stdout[:2000]
    out = kubeconform(kube_schemas, yaml.safe_dump_all(docs), tmp_path)
    assert "Invalid: 0, Errors: 0, Skipped: 0" in out, out


def test_artifacthub_annotations_match_the_chart():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    annotations = chart["annotations"]
    crds = [yaml.safe_load(p.read_text()) for p in sorted((CHART / "crds").glob("*.yaml"))]
    listed = yaml.safe_load(annotations["artifacthub.io/crds"])
    assert sorted((c["kind"], c["version"], c["name"]) for c in listed) == sorted(
        (c["spec"]["names"]["kind"], v["name"], c["metadata"]["name"]) for c in crds for v in c["spec"]["versions"])
    [image] = yaml.safe_load(annotations["artifacthub.io/images"])
    assert image["image"] == one(render_chart(), "Job")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert annotations["daskrun.io/dask-kubernetes-version"] == metadata.version("dask-kubernetes")


def test_packaged_chart_installs_what_the_repository_renders(tmp_path):
    """`make package`'s chart: the templates, CRDs, schema and README, not the sources of
    generated files or the ci values; it renders like the chart directory."""
    import tarfile

    from chart_render import helm

    helm("package", str(CHART), "-d", str(tmp_path))
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    archive = tmp_path / f"daskrun-{version}.tgz"
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"daskrun/Chart.yaml", "daskrun/values.yaml", "daskrun/values.schema.json", "daskrun/README.md",
            "daskrun/templates/job.yaml", "daskrun/crds/daskcluster.yaml"} <= names
    assert not [n for n in names if n.startswith(("daskrun/ci/", "daskrun/schema/")) or n.endswith(".gotmpl")]
    assert render_chart(chart=archive) == render_chart()
