"""One run: setup, import the function, start the cluster, call it, keep the result."""

from __future__ import annotations

import logging
import os
import reprlib
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pandas as pd

from daskrun import cluster as clusters
from daskrun import invoke, output, progress
from daskrun.bootstrap import run_launcher_setup
from daskrun.config import Config, load_config
from daskrun.context import RunContext
from daskrun.errors import FunctionFailed, ResultNotStored
from daskrun.ownership import owned_by_launcher

log = logging.getLogger(__name__)

# Arguments can be megabytes (a list of inputs): the log line shows their start only.
_ARGS_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
for _limit, _value in dict(maxlevel=3, maxdict=8, maxlist=8, maxtuple=8, maxset=8, maxstring=80,
                           maxother=80, maxlong=40).items():
    setattr(_ARGS_REPR, _limit, _value)
MAX_ARGS_LINE = 1000


def describe_args(args: dict[str, Any]) -> str:
    """`k=v, ...` for the log, bounded whatever the arguments hold."""
    pieces, length = [], 0
    for key, value in args.items():
        pieces.append(f"{_ARGS_REPR.repr(key)[1:-1][:80]}={_ARGS_REPR.repr(value)}")
        length += len(pieces[-1]) + 2
        if length > MAX_ARGS_LINE:
            return ", ".join(pieces)[:MAX_ARGS_LINE] + f"... ({len(args)} arguments)"
    return ", ".join(pieces)


def _setup_dir() -> Path:
    configured = os.environ.get("DASKRUN_SETUP_DIR")
    return Path(configured) if configured else Path(tempfile.mkdtemp(prefix="daskrun-setup-"))


def _call(function: Any, config: Config) -> Any:
    try:
        return function(**config.run.args)
    except Exception as exc:
        log.error("%s failed:\n%s", config.run.function, traceback.format_exc())
        raise FunctionFailed(f"{config.run.function} raised {type(exc).__name__}: {exc}") from exc


def keep_result(result: pd.DataFrame | None, config: Config) -> pd.DataFrame | None:
    """Store the result; print it when there is no output or storing fails. None when stored."""
    if result is None:
        log.info("the function returned None and no output is configured: nothing to store")
        return None
    if config.output is None:
        log.info("no output configured; the result (%d rows) follows", len(result))
        print(result.to_string(), flush=True)
        output.print_result(result)
        return result
    try:
        where = output.store(result, config.output)
    except output.StoreError as exc:
        log.error("could not store the result at %s: %s -- printing the whole result below; "
                  "`daskrun recover LOGFILE -o FILE` turns it back into the file",
                  config.output.path, exc)
        output.print_result(result, fmt=output.result_format(config.output))
        raise ResultNotStored(f"result not stored: {exc}", result) from exc
    log.info("result (%d rows x %d columns) stored at %s", len(result), len(result.columns), where)
    return None


def run_dask_function(
    config: Config | dict[str, Any] | str | Path,
    local: bool = False,
    context: RunContext | None = None,
    progress_interval: float = 10.0,
) -> pd.DataFrame | None:
    """Run `config.run.function` on a Dask cluster; return its DataFrame, or None once stored.

    Raises ConfigError / InvokeError (bad config, nothing started), ClusterStartError,
    FunctionFailed, or ResultNotStored (the result is in the log and in `.result`).
    """
    from distributed import Client

    config = load_config(config)
    # Before anything starts: a launcher that cannot own its cluster is a configuration error.
    pod_context = None if local else owned_by_launcher((context or RunContext()).with_name())
    setup = config.dask_cluster.worker_config.setup
    if local and (setup.apt_packages or setup.script):
        log.warning("setup.apt_packages and setup.script run in worker pods only; skipped locally")
    run_launcher_setup(setup, _setup_dir())
    function = invoke.load_function(config.run.function, config.run.args)

    if pod_context is None:
        cluster_cm = clusters.local_cluster(config)
    else:
        cluster_cm = clusters.kube_cluster(config, pod_context)
    with cluster_cm as cluster, Client(cluster, set_as_default=True) as client:
        target = config.dask_cluster.workers_to_wait_for
        if target:
            clusters.wait_for_workers(client, target, pod_context, config.dask_cluster.wait_for_workers.timeout)
        progress.report_versions(client)
        log.info("running %s(%s)", config.run.function, describe_args(config.run.args))
        with progress.ProgressReporter(client, progress_interval):
            raw = _call(function, config)
        result = invoke.check_result(raw, config.run.function, config.output is not None)
        return keep_result(result, config)
