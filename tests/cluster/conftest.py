"""Fixtures for the smoke tests of the local cluster (make cluster-smoke).

Their harness is tests/support/cluster_tools.py, the e2e suite's too: its `kubectl`, `kjson` and
`apply` (binary and KUBECONFIG resolved there: the local cluster's unless the environment says);
pytest puts tests/support on sys.path (pyproject.toml: [tool.pytest.ini_options] pythonpath)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cluster_tools import create_namespace, delete_namespace, kubectl, namespace_name


@pytest.fixture(scope="session", autouse=True)
def cluster() -> None:
    """Every smoke test needs the cluster: fail at once, and clearly, when it does not answer."""
    probe = kubectl("get", "--raw", "/readyz", check=False)
    if probe.returncode != 0:
        pytest.fail(f"cluster not reachable (make cluster-up first): {probe.stderr.strip()}")


@pytest.fixture
def namespace(request) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    name = create_namespace(namespace_name("smoke", request.node.name))
    yield name
    delete_namespace(name)
