"""What the log shows: daskrun's lines and the user's code's at INFO; from Dask, its Kubernetes
clients and HTTP libraries only WARNING and above. `daskrun -v` (the chart's `logLevel:
debug`) adds daskrun's and the user's DEBUG lines and Dask's and Kubernetes' INFO lines.

A filter on the log's handlers decides, not the loggers' levels: distributed sets its own
loggers' levels when it is imported, after the log is configured, and so undid the WARNING
set here before (every worker registering, every connection, in the default log).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

# INFO of a cluster that works: each worker registering, each connection opened and closed,
# each controller handler that succeeded. What a failure leaves is WARNING or ERROR in each
# (a worker killed, KilledWorker, a handler that failed), so it stays.
DASK_AND_KUBERNETES = ("distributed", "dask", "dask_kubernetes", "kopf", "kr8s", "tornado", "bokeh")
# A line per request at INFO, headers and bodies at DEBUG: WARNING and above, even with -v.
HTTP_CLIENTS = ("httpx", "httpcore", "aiohttp", "urllib3", "botocore", "aiobotocore", "s3fs", "fsspec")


def _within(name: str, families: tuple[str, ...]) -> bool:
    return any(name == family or name.startswith(family + ".") for family in families)


def lowest_shown(logger: str, verbose: bool) -> int:
    """The lowest level of a record of `logger` that the log shows."""
    if _within(logger, HTTP_CLIENTS):
        return logging.WARNING
    if _within(logger, DASK_AND_KUBERNETES):
        return logging.INFO if verbose else logging.WARNING
    # daskrun's own loggers and any other: the user's function logs through its own.
    return logging.DEBUG if verbose else logging.INFO


class LibraryChatter(logging.Filter):
    """Drops the records of Dask's, Kubernetes' and HTTP libraries' loggers below `lowest_shown`."""

    def __init__(self, verbose: bool):
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= lowest_shown(record.name, self.verbose)


def apply(handlers: Iterable[logging.Handler], verbose: bool) -> None:
    """The root logger's level and one LibraryChatter per handler, replacing an earlier one
    (configured again in one process, by the Python API or tests, with another verbosity)."""
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.INFO)
    for family in HTTP_CLIENTS:  # never shown below WARNING: spare making their records
        logging.getLogger(family).setLevel(logging.WARNING)
    for handler in handlers:
        for old in [f for f in handler.filters if isinstance(f, LibraryChatter)]:
            handler.removeFilter(old)
        handler.addFilter(LibraryChatter(verbose))
