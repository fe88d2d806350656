"""One run: setup, import the function, start the cluster, call it, keep the result."""

from __future__ import annotations

import contextlib
import logging
import os
import reprlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from daskrun import (
    attach,
    exit_guard,
    invoke,
    kept_mark,
    launcher_metrics,
    output,
    parquet_engine,
    progress,
    reattach,
    result_copy,
    timeline,
)
from daskrun import cluster as clusters
from daskrun.bootstrap import LauncherCode, run_launcher_setup
from daskrun.config import Config, Setup, load_config
from daskrun.context import RunContext, from_flags
from daskrun.credentials import masked_args
from daskrun.errors import USER_CODE_ERRORS, ExitCode, FunctionFailed, ResultNotStored
from daskrun.ownership import owned_by_launcher
from daskrun.result_block import defang
from daskrun.run_record import RunRecord, result_shape

log = logging.getLogger(__name__)

# Arguments can be megabytes (a list of inputs): the log line shows their start only.
_ARGS_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
for _limit, _value in dict(
    maxlevel=3, maxdict=8, maxlist=8, maxtuple=8, maxset=8, maxstring=80, maxother=80, maxlong=40
).items():
    setattr(_ARGS_REPR, _limit, _value)
MAX_ARGS_LINE = 1000
MAX_TABLE_ROWS = 1000  # a result without `output` is shown as a table up to this many rows


def describe_args(args: dict[str, Any]) -> str:
    """`k=v, ...` for the log, bounded whatever the arguments hold, secret-named ones masked."""
    pieces, length = [], 0
    for key, value in masked_args(args).items():
        pieces.append(f"{_ARGS_REPR.repr(key)[1:-1][:80]}={_ARGS_REPR.repr(value)}")
        length += len(pieces[-1]) + 2
        if length > MAX_ARGS_LINE:
            return ", ".join(pieces)[:MAX_ARGS_LINE] + f"... ({len(args)} arguments)"
    return ", ".join(pieces)


@contextlib.contextmanager
def _setup_dir() -> Iterator[Path]:
    """Where the launcher clones and writes preloads; a temporary folder unless configured,
    removed when the run is over (local workers import from it until then)."""
    configured = os.environ.get("DASKRUN_SETUP_DIR")
    if configured:
        yield Path(configured)
        return
    with tempfile.TemporaryDirectory(prefix="daskrun-setup-", ignore_cleanup_errors=True) as path:
        yield Path(path)


def _warn_local_setup(setup: Setup) -> None:
    if setup.apt_packages or setup.script:
        log.warning("setup.apt_packages and setup.script run in worker pods only; skipped locally")
    if setup.pip_packages or (setup.git_repository and setup.git_repository.install):
        if os.environ.get("DASKRUN_ISOLATED") == "1":
            log.info("setup.pip_packages and git_repository.install go into the throw-away environment %s", sys.prefix)
        else:
            log.warning(
                "a --local run installs setup.pip_packages and git_repository.install into "
                "this Python environment (%s); add --isolated for a throw-away one",
                sys.prefix,
            )


def _preview(result: pd.DataFrame) -> None:
    """The table for whoever reads the log: a courtesy, so nothing in it (a cell whose
    `__str__` raises, a lone surrogate on a stream that cannot encode it) may stop the
    result block, which is the guarantee."""
    try:
        if len(result) <= MAX_TABLE_ROWS:
            text = result.to_string()
        else:
            # The whole table as text would take many times the DataFrame's memory; the
            # block below holds every row, for `daskrun recover`.
            text = result.head(MAX_TABLE_ROWS // 2).to_string()
            text += f"\n... {len(result) - MAX_TABLE_ROWS // 2} more rows in the result block below"
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        print(defang(text).encode(encoding, "backslashreplace").decode(encoding), flush=True)
    except USER_CODE_ERRORS as exc:
        log.warning(
            "no preview of the result (%s: %s); the result block below holds every row", type(exc).__name__, exc
        )


def keep_result(result: pd.DataFrame | None, config: Config, pod: RunContext | None = None) -> pd.DataFrame | None:
    """Store the result; print it when there is no output or storing fails. None when stored.
    Once kept, the run may exit 0 and a stop signal no longer interrupts it (daskrun.exit_guard).
    In a launcher pod (`pod`, with its lasting mounts), a file written where it goes with the
    pod is copied into a ConfigMap of its Job (daskrun.result_copy), or printed when it cannot
    be: the result the user asked to keep must outlive the pod."""
    kept = _keep(result, config, pod)
    exit_guard.mark_kept()
    return kept


def goes_with_the_pod(where: str, lasting_mounts: tuple[str, ...]) -> bool:
    """Whether a file stored at `where` (absolute) lies outside every volume that outlives the pod."""
    path = os.path.normpath(where)
    return not any(
        os.path.commonpath([path, os.path.normpath(mount)]) == os.path.normpath(mount) for mount in lasting_mounts
    )


def _keep_beyond_the_pod(result: pd.DataFrame, config: Config, where: str, pod: RunContext) -> None:
    assert config.output is not None
    job = kept_mark.job_name(pod)
    copied = None if job is None else result_copy.keep(where, config.output.format, pod, job)
    if copied is None:
        _print_too(result, config, where)
        return
    log.info(
        "the result is stored at %s in the launcher pod's own filesystem, which goes with the pod: a copy is kept "
        "in configmap/%s, which goes with job/%s, so `daskrun result` brings it home; to keep the file, set "
        "outputVolume.create: true (a claim the chart makes), outputVolume.existingClaim or an S3 output",
        where,
        copied,
        job,
    )


def _print_too(result: pd.DataFrame, config: Config, where: str) -> None:
    assert config.output is not None
    log.warning(
        "the result is stored at %s in the launcher pod's own filesystem, which goes with the pod: it is "
        "printed below too, so `daskrun result` (or `daskrun recover --job`) brings it home; to keep the "
        "file, set outputVolume.create: true (a claim the chart makes), outputVolume.existingClaim or an S3 output",
        where,
    )
    try:
        output.print_result(result, fmt=output.result_format(config.output))
    except USER_CODE_ERRORS as exc:  # stored already: a copy that cannot be printed is only a warning
        log.warning("could not print the result too: %s: %s", type(exc).__name__, exc)


def _print_or_fail(result: pd.DataFrame, config: Config, fmt: str = "csv") -> None:
    """The result block, or FunctionFailed when the DataFrame cannot be written at all (a
    cell's own __str__ raising, say): the function's failure, not a cluster's to retry."""
    try:
        output.print_result(result, fmt=fmt)
    except USER_CODE_ERRORS as exc:
        raise FunctionFailed(
            f"{config.run.function} returned a DataFrame that cannot be written as CSV: {type(exc).__name__}: {exc}"
        ) from exc


def _keep(result: pd.DataFrame | None, config: Config, pod: RunContext | None) -> pd.DataFrame | None:
    if result is None:
        log.info("the function returned None and no output is configured: nothing to store")
        return None
    if config.output is None:
        log.info("no output configured; the result (%d rows) follows", len(result))
        _preview(result)
        _print_or_fail(result, config)
        timeline.mark(timeline.RESULT_STORED)  # the log is where it is kept
        launcher_metrics.result(len(result), None)
        return result
    try:
        where = output.store(result, config.output)
    except output.StoreError as exc:
        log.error(
            "could not store the result at %s: %s -- printing the whole result below; "
            "`daskrun recover --job JOB -o FILE` (or a saved log: `daskrun recover LOGFILE -o FILE`) "
            "turns it back into the file",
            config.output.path,
            exc,
        )
        _print_or_fail(result, config, output.result_format(config.output))
        raise ResultNotStored(f"result not stored: {exc}", result) from exc
    timeline.mark(timeline.RESULT_STORED)
    log.info("result (%d rows x %d columns) stored at %s", len(result), len(result.columns), where)
    launcher_metrics.result(len(result), os.path.getsize(where) if os.path.isfile(where) else None)
    if (
        pod is not None
        and pod.lasting_mounts is not None
        and not config.output.is_s3
        and goes_with_the_pod(where, pod.lasting_mounts)
    ):
        _keep_beyond_the_pod(result, config, where, pod)
    return None


def run_dask_function(
    config: Config | dict[str, Any] | str | Path,
    local: bool = False,
    context: RunContext | None = None,
    progress_interval: float = 10.0,
    started: float | None = None,
) -> pd.DataFrame | None:
    """Run `config.run.function` on a Dask cluster; return its DataFrame, or None once stored.

    `started` (epoch seconds, default now) is where the run's phase timeline begins; the CLI
    gives its process start. Without `context`, a Kubernetes run takes the one `daskrun run`
    builds from the environment (daskrun.context.from_flags).

    Raises ConfigError / InvokeError (bad config, nothing started), VersionMismatch (the Dask
    processes differ in a package that must match; the function did not start), ClusterStartError,
    FunctionFailed, or ResultNotStored (the result is in the log and in `.result`).
    """
    line = timeline.begin(started)
    progress.forget_counts()
    config = load_config(config)
    timeline.mark(timeline.CONFIG_LOADED)
    record = RunRecord(config, "local" if local else "kubernetes")
    failure: BaseException | None = None
    kept_before = None
    try:
        # Before anything starts: a launcher that cannot own its cluster is a configuration error.
        # Not RunContext(): its namespace is a placeholder, and the run would go to `default`
        # where every command goes to the current one (daskrun.context.current_namespace).
        pod_context = None if local else owned_by_launcher((context or from_flags()).with_name())
        record.job = kept_mark.job_name(pod_context) if pod_context else None
        if pod_context is not None and (kept_before := kept_mark.earlier(pod_context)) is not None:
            _kept_by_an_earlier_pod(pod_context, kept_before)
            return None
        setup = config.dask_cluster.worker_config.setup
        if local:
            _warn_local_setup(setup)
        with _setup_dir() as workdir:
            code = run_launcher_setup(setup, workdir)
            timeline.mark(timeline.SETUP_DONE)
            return _run(config, pod_context, progress_interval, code, record)
    except BaseException as exc:
        failure = exc
        raise
    finally:
        record.finish(failure)
        # Bad input stops the run before anything started: it leaves nothing behind, no report.
        # A version mismatch (exit 2 as well) is found on a cluster that started: its record,
        # with the versions it read, says why. Nor does a pod that found the result kept
        # report: the earlier pod's report stays as it was.
        started = record.exit_code != ExitCode.BAD_CONFIG or record.versions is not None
        if started and kept_before is None:
            record.store()
        log.info("phases of this run:\n%s", line.table())


def _kept_by_an_earlier_pod(context: RunContext, mark: dict[str, str]) -> None:
    log.warning(
        "pod %s of this Job kept the run's result at %s (its log says where) and was stopped before it "
        "exited: not running the function again; deleting what is left of the run's Dask cluster",
        mark["pod"],
        mark["at"],
    )
    clusters.delete_run_cluster(context)
    exit_guard.mark_kept()


def _run(
    config: Config, pod_context: RunContext | None, progress_interval: float, code: LauncherCode, record: RunRecord
) -> pd.DataFrame | None:
    """From the user's function on: import it, start the cluster, call, check, store."""
    parquet_engine.check_engine(config.output)
    # Imported here too, though a Kubernetes run calls it in its driver: a misspelt function
    # or bad args fail now, before any pod starts.
    function = invoke.load_function(config.run.function, config.run.args)
    timeline.mark(timeline.FUNCTION_IMPORTED)
    if pod_context is None:
        return _run_here(config, function, code, progress_interval, record)
    return _run_in_driver(config, pod_context, progress_interval, record)


def _run_here(
    config: Config, function: Any, code: LauncherCode, progress_interval: float, record: RunRecord
) -> pd.DataFrame | None:
    """A local run: the function in this process, on a LocalCluster."""
    from distributed import Client

    with clusters.local_cluster(config, code.preloads) as cluster, Client(cluster, set_as_default=True) as client:
        timeline.mark(timeline.SCHEDULER_CONNECTED)
        target = config.dask_cluster.workers_to_wait_for
        if target:
            clusters.wait_for_workers(client, target, None, config.dask_cluster.wait_for_workers.timeout)
        _check_versions(client, record)
        log.info("running %s(%s)", config.run.function, describe_args(config.run.args))
        # The report is made after the result is stored: the result never waits for it.
        with record.observe(client):
            with progress.ProgressReporter(client, progress_interval):
                timeline.mark(timeline.FUNCTION_STARTED)
                raw = invoke.call(function, config.run.function, config.run.args)
                timeline.mark(timeline.FUNCTION_FINISHED)
            result = invoke.check_result(raw, config.run.function, config.output is not None)
            record.result = result_shape(result)
            return keep_result(result, config)


def _check_versions(client: Any, record: RunRecord) -> None:
    """Before the function starts: the processes share the versions that must match, and any
    worker that joins later with others is refused (daskrun.version_guard)."""
    from daskrun import version_guard  # imports distributed, as the cluster's start does

    record.versions, names = version_guard.read(client)  # in run.json whatever the check finds
    version_guard.guard(client, record.versions, names)


def _run_in_driver(
    config: Config, context: RunContext, progress_interval: float, record: RunRecord
) -> pd.DataFrame | None:
    """A Kubernetes run: the function runs in the driver beside the scheduler; this launcher
    starts it (or re-attaches to it), relays its log and stores its result."""
    from distributed import Client

    with (
        clusters.kube_cluster(config, context) as run,
        Client(run.cluster, security=run.security, set_as_default=True) as client,
    ):
        timeline.mark(timeline.SCHEDULER_CONNECTED)
        status = attach.status(client)
        step = reattach.next_step(status, run.started_before)
        if step is reattach.Step.REPLACE:
            raise attach.SchedulerLost(
                f"the scheduler of run {run.context.name} was replaced since the function started: "
                "Dask keeps no state elsewhere, so the run starts again in the Job's next pod"
            )
        if step is reattach.Step.START:
            target = config.dask_cluster.workers_to_wait_for
            if target:
                clusters.wait_for_workers(client, target, run.context, config.dask_cluster.wait_for_workers.timeout)
            _check_versions(client, record)
            log.info(
                "running %s(%s) in the driver beside the scheduler", config.run.function, describe_args(config.run.args)
            )
            attach.start(client, run.context.pod_name or "")
            clusters.mark_started(run.context)
        else:
            log.info("%s", attach.reattached_line(client, run.context.name, status))
            from daskrun import version_guard

            version_guard.relay_refusals(client)  # the guard itself lives on in the scheduler
        relay = attach.LogRelay()
        with record.observe(client):
            with progress.ProgressReporter(client, progress_interval):
                timeline.mark(timeline.FUNCTION_STARTED)
                final = attach.follow(client, relay)
                timeline.mark(timeline.FUNCTION_FINISHED)
            result = attach.outcome(client, final)
            record.result = result_shape(result)
            kept = keep_result(result, config, run.context)
            kept_mark.mark(run.context)  # before the cluster that holds the result is deleted
            return kept
