"""Real servers on this host for tests: a free port, a background process, moto's S3."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class BackgroundServer:
    """A process serving on host:port, started and waited for until it accepts connections."""

    def __init__(self, argv: list[str], host: str, port: int, cwd: Path | None = None, timeout: float = 30):
        self.url = f"http://{host}:{port}"
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{argv[0]} did not start on {host}:{port}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextlib.contextmanager
def moto_s3(host: str = "127.0.0.1") -> Iterator[str]:
    """A real S3-compatible HTTP server (moto in server mode); yields its endpoint URL."""
    port = free_port(host)
    server = BackgroundServer([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)], host, port)
    try:
        yield server.url
    finally:
        server.stop()
