"""Tasks that report every execution to a URL: how to see, from outside the cluster, that a
run resumed after losing its launcher recomputed nothing.

`run.function: daskrun.examples.counted.tasks` with `run.args.report_url` pointing at any HTTP
server that accepts POSTs (the e2e suite's counter, benchmarks/launcher_loss.py).
"""

from __future__ import annotations

import time
import urllib.parse
import urllib.request

import pandas as pd


def _post(url: str) -> None:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def _task(index: int, report_url: str, seconds: float) -> int:
    from distributed import get_worker

    worker = urllib.parse.quote(str(get_worker().name), safe="")
    _post(f"{report_url}/task/{index}?worker={worker}")
    time.sleep(seconds)
    return index * index


def tasks(report_url: str, tasks: int = 40, seconds: float = 3.0, hold_url: str | None = None) -> pd.DataFrame:
    """`tasks` tasks of `seconds` each; the function's own start is reported too. With
    `hold_url`, the function waits after its last task until that URL answers `go`."""
    from distributed import get_client

    _post(f"{report_url}/function")
    client = get_client()
    futures = client.map(_task, range(tasks), report_url=report_url, seconds=seconds, pure=False)
    squares = client.gather(futures)
    while hold_url:
        with urllib.request.urlopen(hold_url, timeout=30) as response:
            if response.read().strip() == b"go":
                break
        time.sleep(0.5)
    return pd.DataFrame({"task": range(tasks), "square": squares})
