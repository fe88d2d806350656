"""The folder the driver and the scheduler share in the scheduler pod, and how it is read.

The driver (daskrun.driver) writes its status, its log and the pickled result here; the
launcher reads them through the run's own Dask connection (`client.run_on_scheduler` of the
functions below, which the scheduler, running our image, imports by name). So the result
needs no new Kubernetes right and no log-size limit, and it lives as long as the scheduler
pod: a launcher lost between "function finished" and "result stored" loses nothing.

Standard library only: the scheduler imports this module on every call.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import pickle
import time
from pathlib import Path
from typing import Any

MOUNT = "/daskrun-driver"  # the emptyDir, in the driver and the scheduler container
VOLUME = "daskrun-driver"
STATUS = "status.json"
LOG = "driver.log"
RESULT = "result.pickle"
GO = "go.json"  # written by the launcher once the workers it waits for joined

# The driver's states, in order; DONE and FAILED are final.
WAITING, RUNNING, DONE, FAILED = "waiting", "running", "done", "failed"
FINAL = (DONE, FAILED)
CHUNK = 8 * 1024 * 1024  # bytes per run_on_scheduler read: far below Dask's message limits


ENV_RUN = "DASKRUN_DRIVER_RUN"  # what the driver calls: run_spec


def run_spec(function: str, args: dict[str, Any], output_configured: bool) -> str:
    """What the driver calls, as the launcher validated it (args keep their Python types)."""
    record = {"function": function, "args": args, "output": output_configured}
    return base64.b64encode(pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)).decode("ascii")


def read_run_spec(text: str) -> dict[str, Any]:
    return pickle.loads(base64.b64decode(text))  # noqa: S301 - written by this run's launcher


def folder() -> Path:
    return Path(os.environ.get("DASKRUN_DRIVER_DIR", MOUNT))


def write_bytes(name: str, data: bytes, where: Path | None = None) -> None:
    """Replace `name` at once: a reader never sees half of it."""
    path = (where or folder()) / name
    partial = path.with_name(f".{name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def write_json(name: str, record: dict[str, Any], where: Path | None = None) -> None:
    write_bytes(name, json.dumps(record).encode(), where)


def read_json(name: str, where: Path | None = None) -> dict[str, Any] | None:
    try:
        return json.loads(((where or folder()) / name).read_text())
    except FileNotFoundError:
        return None


# --- What the launcher calls on the scheduler (dask_scheduler is passed by Dask) -----------


def _quiet() -> None:
    # Dask logs every run_on_scheduler call at INFO ("Run out-of-band function") through
    # distributed.worker, which logs nothing else in a scheduler process: the launcher's
    # polls, two a second for hours, would bury the scheduler's own log.
    logging.getLogger("distributed.worker").setLevel(logging.WARNING)


def status(dask_scheduler: Any = None) -> dict[str, Any] | None:
    """The driver's status record, None before the driver wrote one."""
    _quiet()
    return read_json(STATUS)


def start(launcher: str, dask_scheduler: Any = None) -> None:
    """Tell the waiting driver to call the function."""
    write_json(GO, {"launcher": launcher, "at": time.time()})


def read_bytes(name: str, offset: int, limit: int = CHUNK, dask_scheduler: Any = None) -> bytes:
    """Up to `limit` bytes of `name` from `offset` (b"" at the end, or before it exists)."""
    _quiet()
    try:
        with open(folder() / name, "rb") as handle:
            handle.seek(offset)
            return handle.read(limit)
    except FileNotFoundError:
        return b""
