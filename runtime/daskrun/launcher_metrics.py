"""The launcher's own Prometheus metrics: where the run is (its phases), its tasks and workers,
and the size of its result. Dask's scheduler and workers export their own on their dashboard
ports; these are what only the launcher knows.

Served only when the chart's `metrics.enabled` gives the launcher a port; until then every
update is a no-op, so the modules that report (timeline, progress, runner) need not know.
"""

from __future__ import annotations

import threading
from typing import Any

PREFIX = "daskrun"
_lock = threading.Lock()
_gauges: dict[str, Any] = {}


def serve(port: int, release: str, revision: str, phases: tuple[str, ...]) -> None:
    """Start the /metrics endpoint on `port` (all interfaces: Prometheus scrapes the pod's IP).
    Raises when the port cannot be served; the updates stay no-ops then."""
    from prometheus_client import CollectorRegistry, Gauge, Info, start_http_server

    registry = CollectorRegistry()
    Info(f"{PREFIX}_run", "The run this launcher drives", registry=registry).info(
        {"release": release, "revision": revision}
    )
    gauges: dict[str, Any] = {
        "phase": Gauge(
            f"{PREFIX}_phase_seconds",
            "Seconds after the launcher started at which the run reached each phase it reached",
            ["phase"],
            registry=registry,
        ),
        "phase_index": Gauge(
            f"{PREFIX}_phase_index",
            f"The newest phase reached, as its index in: {', '.join(phases)}",
            registry=registry,
        ),
        "phases": phases,
        "newest": -1,
    }
    for name, text in (
        ("tasks_done", "Tasks of the run done (in memory, released or forgotten)"),
        ("tasks_total", "Tasks of the run the scheduler knows"),
        ("workers", "Workers connected to the run's scheduler"),
        ("result_rows", "Rows of the stored result"),
        ("result_bytes", "Bytes of the stored result file"),
    ):
        gauges[name] = Gauge(f"{PREFIX}_{name}", text, registry=registry)
    start_http_server(port, registry=registry)
    with _lock:
        _gauges.update(gauges)


def phase(name: str, seconds: float) -> None:
    with _lock:
        if "phase" not in _gauges:
            return
        _gauges["phase"].labels(phase=name).set(round(seconds, 3))
        index = _gauges["phases"].index(name) if name in _gauges["phases"] else -1
        if index > _gauges["newest"]:  # KubeCluster's own steps are marked afterwards
            _gauges["newest"] = index
            _gauges["phase_index"].set(index)


def tasks(done: int, total: int, workers: int) -> None:
    with _lock:
        if "tasks_done" in _gauges:
            _gauges["tasks_done"].set(done)
            _gauges["tasks_total"].set(total)
            _gauges["workers"].set(workers)


def result(rows: int, size: int | None) -> None:
    with _lock:
        if "result_rows" in _gauges:
            _gauges["result_rows"].set(rows)
            if size is not None:
                _gauges["result_bytes"].set(size)
