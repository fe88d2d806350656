"""What a person following the log needs: periodic task progress (versions: daskrun.version_check)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from daskrun import launcher_metrics

log = logging.getLogger(__name__)


def task_counts(dask_scheduler: Any = None) -> dict[str, int]:
    """Runs on the scheduler: tasks by state."""
    counts: dict[str, int] = {}
    for task in dask_scheduler.tasks.values():
        counts[task.state] = counts.get(task.state, 0) + 1
    return counts


def done_and_total(counts: dict[str, int]) -> tuple[int, int]:
    done = counts.get("memory", 0) + counts.get("released", 0) + counts.get("forgotten", 0)
    return done, sum(counts.values())


@dataclass(frozen=True)
class Counted:
    """What the run counted last: workers joined and, once the function runs, tasks done/total."""

    at: float  # epoch seconds
    workers: int
    done: int | None = None
    total: int | None = None


# One run per process, as daskrun.timeline: the counts are module state, read by a local run's
# status line (daskrun.local_display) from its own thread.
_counted: Counted | None = None


def count(workers: int, done: int | None = None, total: int | None = None) -> None:
    global _counted
    _counted = Counted(time.time(), workers, done, total)


def counted() -> Counted | None:
    return _counted


def forget_counts() -> None:
    """A new run counts from nothing (a process may run several, as tests do)."""
    global _counted
    _counted = None


class ProgressReporter:
    """Logs task progress every `interval` seconds while the function runs."""

    def __init__(self, client: Any, interval: float):
        self.client = client
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="daskrun-progress", daemon=True)
        self._last: tuple[Any, ...] | None = None

    def __enter__(self) -> ProgressReporter:
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                counts = self.client.run_on_scheduler(task_counts)
                workers = len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
            except Exception as exc:  # noqa: BLE001 - progress is best effort; the run goes on
                log.debug("progress unavailable: %s", exc)
                continue
            count(workers, *done_and_total(counts))
            state = (tuple(sorted(counts.items())), workers)
            if state == self._last:
                continue
            self._last = state
            done, total = done_and_total(counts)
            launcher_metrics.tasks(done, total, workers)
            log.info(
                "progress: %d/%d tasks done, %d running, %d waiting, %d erred; %d workers",
                done,
                total,
                counts.get("processing", 0),
                counts.get("waiting", 0) + counts.get("queued", 0) + counts.get("no-worker", 0),
                counts.get("erred", 0),
                workers,
            )
