import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "support"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(argv: list[str], port: int, cwd: Path | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"{argv[2]} did not start")
            time.sleep(0.1)
    return proc


@pytest.fixture
def moto_server():
    """A real S3-compatible HTTP server (moto in server mode) on loopback."""
    port = free_port()
    proc = _serve([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def http_root(tmp_path_factory):
    """A plain HTTP server on loopback serving a folder: (folder, its URL)."""
    root = tmp_path_factory.mktemp("served")
    port = free_port()
    proc = _serve([sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(port)], port, cwd=root)
    yield root, f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3_env(monkeypatch):
    """Credentials for the default boto3 chain, as the chart's Secret provides them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    """`python -m daskrun ARGS` in a subprocess: real exit codes, real stdout/stderr."""
    return subprocess.run(
        [sys.executable, "-m", "daskrun", *args], cwd=cwd or REPO, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=timeout,
    )


@pytest.fixture(autouse=True, scope="session")
def _venv_tools_on_path():
    """The test interpreter's bin (daskrun, uv, dask) first on PATH, as in an activated venv."""
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
