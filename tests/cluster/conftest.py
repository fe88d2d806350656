"""Fixtures for the smoke tests of the local cluster (make cluster-smoke)."""

from __future__ import annotations

import uuid

import pytest

from cluster_helpers import Kubectl


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
    kubectl.wait_until(f"default serviceaccount in {name}",
                       lambda: kubectl.run("-n", name, "get", "sa", "default", check=False).returncode == 0,
                       timeout=60)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)
