"""When each phase of a run happened: logged as it happens, a table at the end, kept in run.json.

One run per process, so the timeline being recorded is module state: the cluster and runner
code call `mark(...)` without passing an object through every layer, and a mark outside a
run (a unit test of one module) is simply not recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from typing import Any

from daskrun import launcher_metrics

log = logging.getLogger(__name__)

# In the order a run goes through them; a phase a run skips (no workers to wait for, no
# output, a local run's pod) is left out of its table.
LAUNCHER_STARTED = "launcher started"
CONFIG_LOADED = "config loaded"
SETUP_DONE = "launcher setup done"
FUNCTION_IMPORTED = "function imported"
CLUSTER_CREATED = "cluster created"  # the DaskCluster object, or the LocalCluster
SCHEDULER_RUNNING = "scheduler running"
SCHEDULER_CONNECTED = "scheduler connected"
FIRST_WORKER = "first worker joined"
ALL_WORKERS = "all workers joined"
FUNCTION_STARTED = "function started"
FUNCTION_FINISHED = "function finished"
RESULT_STORED = "result stored"
CLUSTER_DELETED = "cluster deleted"
PHASES = (
    LAUNCHER_STARTED,
    CONFIG_LOADED,
    SETUP_DONE,
    FUNCTION_IMPORTED,
    CLUSTER_CREATED,
    SCHEDULER_RUNNING,
    SCHEDULER_CONNECTED,
    FIRST_WORKER,
    ALL_WORKERS,
    FUNCTION_STARTED,
    FUNCTION_FINISHED,
    RESULT_STORED,
    CLUSTER_DELETED,
)


def process_start() -> float:
    """Epoch seconds at which this process started (in a pod: about when its container started)."""
    try:
        import psutil  # a dependency of distributed

        return psutil.Process(os.getpid()).create_time()
    except Exception:  # noqa: BLE001 - no /proc: the first mark is the best we have
        return time.time()


class Timeline:
    """Phase -> epoch seconds. Thread-safe: KubeCluster's own start steps are marked afterwards."""

    def __init__(self, started: float | None = None):
        """`started`: epoch seconds the run counts from (the launcher process's start), default now."""
        self._lock = threading.Lock()
        self.phases: dict[str, float] = {}
        self.mark(LAUNCHER_STARTED, started, quiet=True)

    @property
    def start(self) -> float:
        return self.phases[LAUNCHER_STARTED]

    def mark(self, phase: str, at: float | None = None, quiet: bool = False) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        at = time.time() if at is None else at
        with self._lock:
            if phase in self.phases:  # the first time counts (a retried start marks again)
                return
            self.phases[phase] = at
        launcher_metrics.phase(phase, at - self.start)
        if not quiet:
            log.info("phase: %s at +%.1fs", phase, at - self.start)

    def ordered(self) -> list[tuple[str, float]]:
        with self._lock:
            return sorted(self.phases.items(), key=lambda item: (item[1], PHASES.index(item[0])))

    def table(self) -> str:
        """A short table: clock time, seconds since the launcher started, seconds since the previous phase."""
        rows = [f"{'phase':<22} {'time (UTC)':<12} {'+s':>8} {'step s':>8}"]
        previous = self.start
        for phase, at in self.ordered():
            clock = dt.datetime.fromtimestamp(at, dt.UTC).strftime("%H:%M:%S.%f")[:12]
            rows.append(f"{phase:<22} {clock:<12} {at - self.start:8.2f} {at - previous:8.2f}")
            previous = at
        return "\n".join(rows)

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": _iso(self.start),
            "phases": [
                {"phase": phase, "time": _iso(at), "seconds": round(at - self.start, 3)} for phase, at in self.ordered()
            ],
        }


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds")


_current: Timeline | None = None


def begin(started: float | None = None) -> Timeline:
    """Start recording this process's run; `mark` records into it from now on."""
    global _current
    _current = Timeline(started)
    return _current


def current() -> Timeline | None:
    return _current


def mark(phase: str, at: float | None = None) -> None:
    if _current is not None:
        _current.mark(phase, at)
