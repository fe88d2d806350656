"""Submit a run from Python or the shell: install or upgrade the daskrun Helm chart.

``run_on_kubernetes(config, namespace)`` is the Python call, backed by the chart shipped
inside this package (the one source of the manifests): it validates the config, runs
``helm upgrade --install RELEASE <chart> -n NAMESPACE -f <config as values>``, prints the
release and the commands that follow the run, and with ``wait=True`` follows it to its end
(daskrun.watch's display) and returns its exit status.

Each call with the same release starts a new run (a new revision, a new Job) and stops the
previous one with its Dask cluster; ``helm uninstall RELEASE`` removes everything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

import yaml

from daskrun import kube
from daskrun.chart_path import chart_path
from daskrun.config import ConfigError
from daskrun.context import current_namespace
from daskrun.errors import SubmitError
from daskrun.values_check import check_values


def find_helm() -> str:
    """The Helm binary: $DASKRUN_HELM, else `helm` on PATH."""
    configured = os.environ.get("DASKRUN_HELM")
    if configured:
        found = shutil.which(configured)
        if not found:
            raise SubmitError(
                f"DASKRUN_HELM={configured!r} is not an executable Helm binary; "
                "point it at helm (3.x or 4.x) or unset it to use `helm` from PATH"
            )
        return found
    found = shutil.which("helm")
    if not found:
        raise SubmitError(
            "helm not found: install Helm 3 or 4 (https://helm.sh/docs/intro/install/) and put it "
            "on PATH, or set DASKRUN_HELM to the helm binary"
        )
    return found


def find_kubeconfig() -> str:
    """Where the cluster credentials come from: $KUBECONFIG, ~/.kube/config, or in-cluster."""
    configured = os.environ.get("KUBECONFIG")
    if configured:
        paths = [p for p in configured.split(os.pathsep) if p]
        if any(Path(p).expanduser().is_file() for p in paths):
            return configured
        raise SubmitError(f"KUBECONFIG={configured!r} names no existing file: point it at your cluster's kubeconfig")
    default = Path.home() / ".kube" / "config"
    if default.is_file():
        return str(default)
    if kube.in_pod():
        return "in-cluster"
    raise SubmitError(
        f"no kubeconfig found: set KUBECONFIG or create {default} "
        "(e.g. `aws eks update-kubeconfig`, `gcloud container clusters get-credentials`, `kind get kubeconfig`)"
    )


def _check_release(release: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", release) or len(release) > 53:
        raise SubmitError(
            f"release name {release!r} is invalid: use at most 53 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return release


def _job_name(release_json: dict[str, Any]) -> str | None:
    for doc in yaml.safe_load_all(release_json.get("manifest", "")):
        if isinstance(doc, dict) and doc.get("kind") == "Job":
            return doc["metadata"]["name"]
    return None


def run_on_kubernetes(
    config: dict[str, Any] | str,
    namespace: str | None = None,
    release: str | None = None,
    wait: bool = False,
    *,
    out: TextIO | None = None,
) -> int:
    """Start a run of ``config`` (a dict, or a YAML/JSON file path) on the current cluster.

    Returns 0 once the run is submitted (``wait=False``), or the run's exit status
    (``wait=True``: 0 success, else the exit code of ``daskrun run`` when visible, else 1).
    Without ``namespace``, the one every daskrun command uses (daskrun.context.current_namespace:
    the kubeconfig's). Raises ``ConfigError`` for an invalid config and ``SubmitError`` when Helm, a kubeconfig
    or the chart is missing or Helm refuses the install.
    """
    out = out or sys.stdout
    checked = check_values(config, release, default_release_name=True)  # raises ConfigError naming every bad key
    values = checked.values
    release = _check_release(str(checked.release))
    helm = find_helm()
    find_kubeconfig()
    namespace = current_namespace(namespace)
    try:
        chart = chart_path()
    except FileNotFoundError as exc:
        raise SubmitError(str(exc)) from None

    # The file was read with Helm's own rules (daskrun.helm_scalars), so its values as JSON
    # give Helm what `helm -f FILE` would (tests/unit/test_submit.py compares the two).
    # mkstemp creates the file 0600: it may hold output.key/secret_key.
    fd, values_path = tempfile.mkstemp(prefix="daskrun-values-", suffix=".json")
    try:
        os.chmod(values_path, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
        command = [
            helm,
            "upgrade",
            "--install",
            release,
            str(chart),
            "--namespace",
            namespace,
            "--values",
            values_path,
            "--output",
            "json",
        ]
        result = subprocess.run(command, capture_output=True, text=True)
    finally:
        os.unlink(values_path)
    if result.returncode != 0:
        raise SubmitError(f"helm upgrade --install {release} failed:\n{result.stderr.strip()}")
    try:
        installed = json.loads(result.stdout)
    except json.JSONDecodeError:
        installed = {}
    revision = installed.get("version", "?")
    job = _job_name(installed) or f"<the Job of release {release}>"
    print(f"release {release} (revision {revision}) in namespace {namespace}: run started as Job {job}", file=out)
    print(f"follow it:       daskrun watch {release} -n {namespace}", file=out)
    print(f"its log:         daskrun logs {release} -n {namespace} -f", file=out)
    print(f"rerun:           call again with release={release!r} (stops this run first)", file=out)
    print(f"remove it:       helm uninstall -n {namespace} {release}", file=out)
    out.flush()
    if not wait:
        return 0
    from daskrun.watch import watch

    return watch(release, namespace, int(revision) if str(revision).isdigit() else None, out=out)


def cli_submit(config_path: str, namespace: str | None, release: str | None, wait: bool) -> int:
    """`daskrun submit CONFIG [--namespace NS] [--release NAME] [--wait]`."""
    try:
        return run_on_kubernetes(config_path, namespace=namespace, release=release, wait=wait)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except SubmitError as exc:
        print(f"daskrun submit: {exc}", file=sys.stderr)
        return exc.exit_code
