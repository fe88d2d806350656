import os
import sys
from pathlib import Path

import pytest

from servers import moto_s3


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
