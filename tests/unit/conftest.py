import os
import sys
from pathlib import Path

import pytest

from fake_kube import FakeKube
from servers import BackgroundServer, free_port, moto_s3


@pytest.fixture
def moto_server():
    """A real S3-compatible HTTP server (moto in server mode) on loopback."""
    with moto_s3() as url:
        yield url


@pytest.fixture
def s3_env(monkeypatch):
    """Credentials for the default boto3 chain, as the chart's Secret provides them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True, scope="session")
def _venv_tools_on_path():
    """The test interpreter's bin (daskrun, uv, dask) first on PATH, as in an activated venv."""
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture(scope="module")
def http_root(tmp_path_factory):
    """A plain HTTP server on loopback serving a folder: (folder, its URL)."""
    root = tmp_path_factory.mktemp("served")
    port = free_port()
    server = BackgroundServer([sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(port)],
                              "127.0.0.1", port, cwd=root)
    yield root, server.url
    server.stop()


@pytest.fixture
def fake_api(tmp_path, monkeypatch):
    """The HTTP stand-in for the Kubernetes API (tests/support/fake_kube.py), and this process's
    kubeconfig pointing at it: the real `kubernetes` client talks to it as to a cluster."""
    with FakeKube() as fake:
        monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig(tmp_path / "kubeconfig")))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield fake
