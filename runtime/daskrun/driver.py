"""`daskrun drive`: the user's function, run beside the scheduler so it outlives the launcher.

A second container of the scheduler pod (daskrun.manifest) runs this after the same setup as
the scheduler (pip, git, python_path; its preloads arrive as `--preload` arguments). It waits
for the launcher's go (the workers it waits for have joined), calls the function with the
cluster as the default Client, and leaves the outcome in the shared folder
(daskrun.driver_files). Then it idles until the pod is deleted: its container restarts
(restartPolicy Always) must never call the function a second time, so a restart that finds
the function running records that the function was lost, and one that finds an outcome keeps it.

See docs/design/resumable-runs.md for why the function runs here and not in the launcher.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import threading
import time
from pathlib import Path
from typing import Any

from daskrun import driver_files as files
from daskrun.errors import USER_CODE_ERRORS, DaskrunError, ExitCode
from daskrun.watchdog import Watchdog

log = logging.getLogger(__name__)

# The scheduler container of the same pod, in Dask's default scheme: tls when the run has TLS.
SCHEDULER = "localhost:8786"
ENV_SCHEDULER = "DASKRUN_DRIVER_SCHEDULER"  # another address, for tests on a LocalCluster
CONNECT_TIMEOUT = 1800.0  # seconds: the scheduler container runs the same setup (pip installs) first
GO_POLL = 0.5


def _tee_output(log_path: Path) -> None:
    """Everything this process and its children write to fds 1 and 2 goes to the container
    log as before and to the shared log file the launcher relays."""
    read_end, write_end = os.pipe()
    original = os.dup(1)
    sink = open(log_path, "ab", buffering=0)  # noqa: SIM115 - open for the process's life

    def pump() -> None:
        while chunk := os.read(read_end, 65536):
            os.write(original, chunk)
            sink.write(chunk)

    threading.Thread(target=pump, name="daskrun-tee", daemon=True).start()
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)


def idle() -> int:
    """The outcome is kept; stay until the launcher deletes the cluster."""
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        time.sleep(3600)


def _failed(exit_code: int, message: str) -> None:
    files.write_json(files.STATUS, {"state": files.FAILED, "exit_code": int(exit_code), "message": message})
    log.error("%s", message)


def _connect() -> Any:
    from distributed import Client

    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        try:
            return Client(os.environ.get(ENV_SCHEDULER, SCHEDULER), set_as_default=True, timeout=30)
        except OSError as exc:
            if time.monotonic() > deadline:
                raise
            log.info("the scheduler is not up yet (%s); waiting", exc)
            time.sleep(2)


def _wait_for_go() -> dict[str, Any]:
    while True:
        go = files.read_json(files.GO)
        if go:
            return go
        time.sleep(GO_POLL)


def _store(result: Any) -> dict[str, Any]:
    data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    files.write_bytes(files.RESULT, data)
    record: dict[str, Any] = {
        "state": files.DONE,
        "finished": time.time(),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "rows": None if result is None else len(result),
    }
    return record


def drive(preloads: list[str]) -> int:
    folder = files.folder()
    _tee_output(folder / files.LOG)
    guard = Watchdog.from_env()
    if guard is not None:
        guard.start()
    previous = files.read_json(files.STATUS)
    if previous and previous.get("state") in files.FINAL:
        log.info("the driver restarted after the function's outcome was kept (%s); keeping it", previous["state"])
        return idle()
    if previous and previous.get("state") == files.RUNNING:
        _failed(
            ExitCode.FUNCTION_FAILED,
            "the driver container restarted while the function ran (its last state, e.g. "
            "OOMKilled, is in `kubectl describe pod`); the function's futures were lost with it",
        )
        return idle()
    files.write_json(files.STATUS, {"state": files.WAITING, "at": time.time()})
    try:
        _call(preloads)
    except DaskrunError as exc:
        _failed(exc.exit_code, str(exc))
    return idle()


def _call(preloads: list[str]) -> None:
    from daskrun import invoke, user_code
    from daskrun.errors import FunctionFailed, SetupError

    spec = files.read_run_spec(os.environ[files.ENV_RUN])
    for index, preload in enumerate(preloads):
        try:
            user_code.run_preload(preload)
        except USER_CODE_ERRORS as exc:
            raise SetupError(f"setup.preload[{index}] raised in the driver: {type(exc).__name__}: {exc}") from exc
    function = invoke.load_function(spec["function"], spec["args"])
    client = _connect()
    go = _wait_for_go()
    started = time.time()
    files.write_json(files.STATUS, {"state": files.RUNNING, "started": started, "launcher": go.get("launcher")})
    log.info("calling %s", spec["function"])
    raw = invoke.call(function, spec["function"], spec["args"])
    result = invoke.check_result(raw, spec["function"], spec["output"])
    try:
        record = _store(result)
    except USER_CODE_ERRORS as exc:  # a cell that cannot be pickled, say
        raise FunctionFailed(
            f"{spec['function']} returned a DataFrame that cannot be pickled: {type(exc).__name__}: {exc}"
        ) from exc
    record["started"] = started
    files.write_json(files.STATUS, record)
    log.info("%s returned; its result is kept here until the launcher stored it", spec["function"])
    client.close()
