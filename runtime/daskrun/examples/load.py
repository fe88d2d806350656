"""A load that makes an adaptive cluster grow to its maximum and shrink back when idle.

`sleep_tasks` submits tasks that sleep, watches the number of workers while they run and
afterwards, and returns that history: the scale benchmark (`make bench-cluster`) reads it from
the run's result. Try it with `dask_cluster.workers: {minimum: 1, maximum: 8}`.
"""

from __future__ import annotations

import time

import pandas as pd
from distributed import get_client, wait


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def sleep_tasks(
    tasks: int = 64,
    seconds: float = 10.0,
    minimum: int = 1,
    idle_timeout: float = 600.0,
    sample_every: float = 1.0,
) -> pd.DataFrame:
    """Run `tasks` tasks of `seconds` each, then stay idle until the cluster is back to
    `minimum` workers (or `idle_timeout` passed). One row per sample: seconds since the call,
    workers connected, tasks not yet finished."""
    if tasks < 1 or seconds < 0 or minimum < 0 or sample_every <= 0:
        raise ValueError("tasks >= 1, seconds >= 0, minimum >= 0 and sample_every > 0 are needed")
    client = get_client()
    start = time.monotonic()
    rows: list[dict[str, float | int]] = []

    def sample(left: int) -> int:
        workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        rows.append({"seconds": round(time.monotonic() - start, 2), "workers": workers, "tasks_left": left})
        return workers

    futures = client.map(_sleep, [seconds] * tasks, pure=False)
    while True:
        left = sum(not future.done() for future in futures)
        sample(left)
        if not left:
            break
        time.sleep(sample_every)
    wait(futures)  # raises if a task failed
    idle_since = time.monotonic()
    while sample(0) > minimum and time.monotonic() - idle_since < idle_timeout:
        time.sleep(sample_every)
    return pd.DataFrame(rows)
