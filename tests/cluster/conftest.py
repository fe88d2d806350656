"""Fixtures for the smoke tests of the local cluster (make cluster-smoke).

Their harness is tests/support/cluster_tools.py, the e2e suite's too; pytest puts tests/support
on sys.path (pyproject.toml: [tool.pytest.ini_options] pythonpath)."""

from __future__ import annotations

import uuid

import pytest

from cluster_tools import KUBECTL_FAILED, Kubectl, wait_until


@pytest.fixture(scope="session")
def kubectl() -> Kubectl:
    k = Kubectl()
    probe = k.run("get", "--raw", "/readyz", check=False)
    if probe.returncode != 0:
        pytest.fail(f"cluster not reachable (make cluster-up first): {probe.stderr.strip()}")
    return k


@pytest.fixture
def namespace(kubectl: Kubectl, request) -> str:
    """A fresh namespace per test, deleted afterwards."""
    base = request.node.name.replace("_", "-").lower()[:40].strip("-")
    name = f"smoke-{base}-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", name)
    wait_until(lambda: kubectl.run("-n", name, "get", "sa", "default", check=False).returncode == 0,
               60, interval=1, what=f"default serviceaccount in {name}", retry=KUBECTL_FAILED)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)
