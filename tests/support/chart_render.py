"""Render the Helm chart with a real Helm binary, for tests of what it produces.

HELM names the binary (default .tools/bin/helm4; `make test-chart` runs the chart tests with
.tools/bin/helm3 and .tools/bin/helm4). `render_chart(values)` runs `helm template` and
returns the parsed objects; `render_error(values)` returns Helm's error for values that
must be rejected.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from daskrun.run_labels import COMPONENT_LABEL

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "chart"
CHART_META = yaml.safe_load((CHART / "Chart.yaml").read_text())
# The image the chart runs when none is set: image.tag's default is the chart's appVersion.
DEFAULT_IMAGE = f"daskrun:{CHART_META['appVersion']}"
DEFAULT_WORKER_IMAGE = f"daskrun-worker:{CHART_META['appVersion']}"  # workerImage's default
RELEASE = "demo"
NAMESPACE = "runs"
FULLNAME = f"{RELEASE}-daskrun"  # the chart's daskrun.fullname of RELEASE
# <fullname>-r<revision>-<hash of the values>; test_job_naming.py checks the hash part.
JOB_PATTERN = re.compile(rf"^{FULLNAME}-r1-[0-9a-f]{{8}}$")
# An S3 output, and credentials given as values (the secret key with `$`, a backtick and a
# backslash: characters a template or a shell could mangle).
S3 = {"path": "results/out.csv", "bucket": "my-bucket"}
KEY, SECRET_KEY = "AKIAEXAMPLEKEY0001", "wJalr/XUtnFEMI+K7MDENG$bPx`RfiCYEX\\KEY"


def helm_binary() -> str:
    helm = os.environ.get("HELM", ".tools/bin/helm4")
    path = Path(helm)
    if not path.is_absolute() and os.sep in helm:
        path = ROOT / path
        return str(path)
    return shutil.which(helm) or helm


HELM = helm_binary()


def helm(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run Helm with a private, empty configuration (no repositories, no kubeconfig)."""
    with tempfile.TemporaryDirectory() as home:
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": home,
            "HELM_CACHE_HOME": f"{home}/cache",
            "HELM_CONFIG_HOME": f"{home}/config",
            "HELM_DATA_HOME": f"{home}/data",
            "KUBECONFIG": f"{home}/no-kubeconfig",
            **(env or {}),
        }
        result = subprocess.run([HELM, *args], capture_output=True, text=True, env=full_env, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def helm_major() -> int:
    """The major version of the Helm under test (3 or 4)."""
    version = helm("version", "--short").stdout.strip()  # e.g. v3.22.0+g1234
    return int(version.lstrip("v").split(".")[0])


def _values_args(values: dict[str, Any] | None, directory: str) -> list[str]:
    if values is None:
        return []
    # JSON, not YAML: Helm reads YAML 1.1, where keys such as `n`, `y`, `on` are booleans.
    path = Path(directory) / "values.json"
    path.write_text(
        json.dumps(values, ensure_ascii=False), encoding="utf-8"
    )  # \U escapes of astral characters are not YAML
    return ["-f", str(path)]


def render_chart(
    values: dict[str, Any] | None = None,
    *,
    name: str = RELEASE,
    namespace: str = NAMESPACE,
    chart: Path | str = CHART,
    values_files: tuple[str | Path, ...] = (),
    extra: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """`helm template` the chart (templates, CRDs and test hooks) and return its objects."""
    with tempfile.TemporaryDirectory() as directory:
        args = ["template", name, str(chart), "--namespace", namespace]
        for file in values_files:
            args += ["-f", str(file)]
        args += _values_args(values, directory)
        result = helm(*args, *extra)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_error(values: dict[str, Any] | None = None, *, values_files: tuple[str | Path, ...] = ()) -> str:
    """Helm's error for values it must reject (fails the test if Helm renders them)."""
    with tempfile.TemporaryDirectory() as directory:
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
        for file in values_files:
            args += ["-f", str(file)]
        args += _values_args(values, directory)
        result = helm(*args, check=False)
    assert result.returncode != 0, f"Helm accepted values it should reject: {values or values_files}"
    return result.stderr


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def launcher_rbac(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The launcher's Role or RoleBinding (the Dask pods' own are labelled component dask)."""
    found = [o for o in by_kind(objects, kind) if o["metadata"].get("labels", {}).get(COMPONENT_LABEL) != "dask"]
    assert len(found) == 1, f"expected one launcher {kind}, got {len(found)}"
    return found[0]


def dask_rbac(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The Dask pods' Role or RoleBinding (role-dask.yaml)."""
    found = [o for o in by_kind(objects, kind) if o["metadata"].get("labels", {}).get(COMPONENT_LABEL) == "dask"]
    assert len(found) == 1, f"expected one Dask pods' {kind}, got {len(found)}"
    return found[0]


def run_job(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Job")


def run_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return run_job(objects)["spec"]["template"]["spec"]["containers"][0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
