"""An HTTP server that counts the POSTs it gets by path, and answers GET /release with `go`
once released: daskrun.examples.counted reports every task execution to it."""

from __future__ import annotations

import collections
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Counter:
    def __init__(self, host: str):
        self.counts: collections.Counter[str] = collections.Counter()
        self.workers: dict[str, list[str]] = collections.defaultdict(list)  # path -> where it ran
        self.released = threading.Event()
        self.lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                path, _, query = self.path.partition("?")
                with counter.lock:
                    counter.counts[path] += 1
                    counter.workers[path] += urllib.parse.parse_qs(query).get("worker", [])
                self._answer(b"ok")

            def do_GET(self) -> None:  # noqa: N802
                with counter.lock:
                    counter.counts[f"GET {self.path}"] += 1
                self._answer(b"go" if counter.released.is_set() else b"wait")

            def _answer(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Counter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)

    def tasks_started(self) -> int:
        return sum(1 for path in self.snapshot() if path.startswith("/task/"))

    def executions(self) -> int:
        return sum(n for path, n in self.snapshot().items() if path.startswith("/task/"))

    def ran_on(self, worker: str) -> set[str]:
        """The tasks that ran on `worker` at least once."""
        with self.lock:
            return {path for path, where in self.workers.items() if worker in where}

    def reruns(self) -> dict[str, int]:
        return {path: n for path, n in self.snapshot().items() if path.startswith("/task/") and n > 1}
