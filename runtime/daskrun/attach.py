"""The launcher's side of a Kubernetes run: start the driver, relay its log, collect its outcome.

The launcher holds no futures: the function runs in the driver (daskrun.driver), so the
launcher may be lost at any moment and the next one attaches to the same driver. Everything
is read through the run's Dask connection (daskrun.driver_files).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sys
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from daskrun import credentials
from daskrun import driver_files as files
from daskrun.errors import ClusterStartError, DaskrunError, ExitCode, FunctionFailed
from daskrun.result_block import defang

log = logging.getLogger(__name__)

POLL = 1.0  # seconds between reads of the driver's log and status


class DriverFailed(DaskrunError):
    """The function failed in the driver; the driver's own exit code (its message says why)."""

    def __init__(self, message: str, exit_code: int = ExitCode.FUNCTION_FAILED):
        super().__init__(message)
        self.exit_code = ExitCode(exit_code) if exit_code in ExitCode._value2member_map_ else ExitCode.FUNCTION_FAILED


class SchedulerLost(ClusterStartError):
    headline = ""


def status(client: Any) -> dict[str, Any] | None:
    return client.run_on_scheduler(files.status)


def reattached_line(client: Any, name: str, record: dict[str, Any] | None) -> str:
    """`re-attached to run X started 14:02:11, 23/40 tasks done`, for the log."""
    from daskrun.progress import done_and_total, task_counts

    started = (record or {}).get("started")
    when = time.strftime("%H:%M:%S", time.gmtime(started)) if started else "?"
    line = f"re-attached to run {name} started {when} UTC"
    if (record or {}).get("state") in files.FINAL:
        return f"{line}: its function has ended ({record['state']}), collecting the outcome"  # type: ignore[index]
    try:
        done, total = done_and_total(client.run_on_scheduler(task_counts))
    except Exception:  # noqa: BLE001 - the counts are a courtesy
        return line
    return f"{line}, {done}/{total} tasks done"


def start(client: Any, launcher: str) -> None:
    client.run_on_scheduler(files.start, launcher)


@dataclass
class LogRelay:
    """The driver's log, from its first byte, into this launcher's stdout, line by line."""

    offset: int = 0
    partial: bytes = b""

    def pump(self, client: Any) -> None:
        while True:
            chunk = client.run_on_scheduler(files.read_bytes, files.LOG, self.offset)
            if not chunk:
                return
            self.offset += len(chunk)
            lines = (self.partial + chunk).split(b"\n")
            self.partial = lines.pop()
            for line in lines:
                self._write(line + b"\n")
            if len(chunk) < files.CHUNK:
                return

    def flush(self) -> None:
        if self.partial:
            self._write(self.partial + b"\n")
            self.partial = b""

    @staticmethod
    def _write(line: bytes) -> None:
        text = line.decode("utf-8", "backslashreplace")
        sys.stdout.write(defang(credentials.redact(text)))
        sys.stdout.flush()


def follow(client: Any, relay: LogRelay) -> dict[str, Any]:
    """Relay the log until the driver's status is final; that status."""
    while True:
        try:
            relay.pump(client)
            record = status(client)
        except (OSError, TimeoutError) as exc:
            raise SchedulerLost(
                f"the scheduler was lost ({type(exc).__name__}: {exc}): Dask keeps no state "
                "elsewhere, so the run starts again in the Job's next pod"
            ) from exc
        if record is None or record.get("state") not in files.FINAL:
            time.sleep(POLL)
            continue
        relay.pump(client)  # the lines written just before the outcome
        relay.flush()
        return record


def fetch_result(client: Any, record: dict[str, Any]) -> pd.DataFrame | None:
    """The driver's pickled result, its checksum verified."""
    size = int(record["size"])
    data = bytearray()
    while len(data) < size:
        chunk = client.run_on_scheduler(files.read_bytes, files.RESULT, len(data))
        if not chunk:
            break
        data += chunk
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != size or digest != record["sha256"]:
        raise FunctionFailed(
            f"the driver's result file is damaged: {len(data)} of {size} bytes, sha256 {digest} "
            f"instead of {record['sha256']}"
        )
    return pickle.loads(bytes(data))  # noqa: S301 - written by this run's own driver


def outcome(client: Any, record: dict[str, Any]) -> pd.DataFrame | None:
    """The result of a final status, or the driver's failure raised with its exit code."""
    if record["state"] == files.FAILED:
        raise DriverFailed(record.get("message", "the function failed in the driver"), record.get("exit_code", 1))
    return fetch_result(client, record)
