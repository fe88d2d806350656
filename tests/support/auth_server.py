"""A static file server behind HTTP basic auth: a private git repository (git's dumb HTTP
protocol) and a private package index (PEP 503 simple pages) for the tests.

    python auth_server.py ROOT HOST PORT LOGFILE CREDENTIALS_FILE   (the file holds user:password)

Every request is appended to LOGFILE as `<status> <path>`, so a test can show that requests
without the credentials were refused and that those with them got through.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(SimpleHTTPRequestHandler):
    expected = ""
    logfile: Path

    def _authorised(self) -> bool:
        return self.headers.get("Authorization", "") == self.expected

    def _record(self, status: int) -> None:
        with self.logfile.open("a") as log:
            log.write(f"{status} {self.path}\n")

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if not self._authorised():
            self._record(401)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="private"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._record(200)
        super().do_GET()

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


def make_server(root: Path, host: str, port: int, user: str, password: str, logfile: Path) -> ThreadingHTTPServer:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    handler = type("Handler", (_Handler,), {"expected": f"Basic {token}", "logfile": logfile})
    return ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(root)))


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def add_to_index(root: Path, wheel: Path) -> str:
    """Put `wheel` into a PEP 503 index under root/simple; return the index's path ("/simple")."""
    project = wheel.name.split("-")[0].replace("_", "-").lower()
    packages = root / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    (packages / wheel.name).write_bytes(wheel.read_bytes())
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    page = root / "simple" / project
    page.mkdir(parents=True, exist_ok=True)
    (page / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="../../packages/{wheel.name}#sha256={digest}">{wheel.name}</a>'
        "</body></html>\n"
    )
    (root / "simple" / "index.html").write_text(
        "<!DOCTYPE html><html><body>"
        + "".join(f'<a href="{p.name}/">{p.name}</a>' for p in sorted((root / "simple").iterdir()) if p.is_dir())
        + "</body></html>\n"
    )
    return "/simple"


if __name__ == "__main__":
    root, host, port, logfile, credentials_file = sys.argv[1:6]
    user, password = Path(credentials_file).read_text().strip().split(":", 1)
    server = make_server(Path(root), host, int(port), user, password, Path(logfile))
    server.serve_forever()
