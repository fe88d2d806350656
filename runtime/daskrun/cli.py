"""`daskrun` command line: thin wrappers that turn outcomes into documented exit codes."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from daskrun import context as ctx
from daskrun import exit_guard, log_levels
from daskrun._version import __version__
from daskrun.credentials import RedactingFilter, TextFilter
from daskrun.errors import DaskrunError, ExitCode, ResultNotFound, Stopped, exit_code_summary
from daskrun.result_block import defang

STOP_SIGNALS = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED}


class Terminated(Stopped):
    """SIGTERM or SIGINT arrived: unwind through every `finally`, so the Dask cluster is
    deleted, or left to the Job's next pod when the Job owns it (daskrun.cluster)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signal_name = signal.Signals(signum).name
        self.exit_code = STOP_SIGNALS[signal.Signals(signum)]

    exit_code = ExitCode.TERMINATED


def _on_stop_signal(signum: int, frame: Any) -> None:
    if exit_guard.kept():
        # What is left (the report, deleting the Dask cluster) takes seconds; stopped now, a
        # finished run would read as failed and its Job would run it again in a new pod.
        logging.getLogger("daskrun").warning(
            "%s after the result was kept: finishing the clean-up, then exit 0", signal.Signals(signum).name
        )
        return
    # A second Ctrl-C must not cut the cleanup the first one started (SIGKILL still can).
    for stop in STOP_SIGNALS:
        signal.signal(stop, _while_stopping)
    raise Terminated(signum)


def _while_stopping(signum: int, frame: Any) -> None:
    logging.getLogger("daskrun").warning("%s: already stopping", signal.Signals(signum).name)


def _api_unreachable(exc: BaseException) -> str | None:
    """Why the Kubernetes API server could not be reached, if that is what `exc` means."""
    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (httpx.TransportError, ConnectionError)):
            return f"{type(seen).__name__}: {seen}"
        # kr8s raises a bare ValueError when it finds no kubeconfig and no service account.
        if isinstance(seen, ValueError) and str(seen) == "Unable to find valid credentials":
            return "no kubeconfig and no in-cluster service account found"
        seen = seen.__cause__ or seen.__context__
    return None


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr)
    log_levels.apply(logging.getLogger().handlers, verbose)
    for handler in logging.getLogger().handlers:
        # Once per handler: called again in one process (the Python API, tests), a filter per
        # call made every record pass through hundreds of redactions.
        kinds = {type(f) for f in handler.filters}
        if RedactingFilter not in kinds:
            handler.addFilter(RedactingFilter())
        if TextFilter not in kinds:
            # Only the block writers may print marker text (they write to stdout directly).
            handler.addFilter(TextFilter(defang))


MIN_PROGRESS_INTERVAL, MAX_PROGRESS_INTERVAL = 0.1, 24 * 3600.0


def _progress_interval(text: str) -> float:
    """0 (off), or a finite number of seconds in a range that neither busy-loops nor never logs."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if seconds != 0 and not MIN_PROGRESS_INTERVAL <= seconds <= MAX_PROGRESS_INTERVAL:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give 0 to turn progress off, or {MIN_PROGRESS_INTERVAL:g} to {MAX_PROGRESS_INTERVAL:g} seconds"
        )
    return seconds


def _revision(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a Helm revision (1, 2, ...), got {text!r}")
    return int(text)


def _release_arguments(command: argparse.ArgumentParser) -> None:
    """RELEASE, -n and --revision: which run of a Helm release a command reads."""
    command.add_argument("release", metavar="RELEASE", help="the Helm release")
    command.add_argument("-n", "--namespace", help="the release's namespace [default: the kubeconfig's]")
    command.add_argument(
        "--revision", type=_revision, metavar="N", help="the run of this Helm revision [default: the newest]"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daskrun",
        description=__doc__,
        epilog="exit codes of `daskrun run`:\n" + exit_code_summary(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"daskrun {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="daskrun's debug lines and Dask's and Kubernetes' INFO lines too (the chart's logLevel: debug)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the configured function on a Dask cluster")
    run.add_argument("config", help="config or chart values file (YAML or JSON)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="use a LocalCluster on this machine")
    where.add_argument(
        "--dry-run", action="store_true", help="print the DaskCluster manifest as YAML; contact no cluster"
    )
    # Defaults are None: the environment variables are read by daskrun.context.
    run.add_argument(
        "--isolated",
        action="store_true",
        help="with --local: install setup.pip_packages and git_repository.install into a "
        "throw-away environment over this one, not into this one",
    )
    run.add_argument(
        "--controller",
        choices=ctx.CONTROLLER_MODES,
        help="who acts on the DaskCluster: an installed dask operator (external), a "
        "controller inside this process (embedded), or the operator when one acts "
        f"on it and else the embedded one (auto) [env {ctx.ENV_CONTROLLER}; "
        f"default {ctx.DEFAULT_CONTROLLER}]",
    )
    run.add_argument("--namespace", help=f"namespace of the Dask cluster [env {ctx.ENV_NAMESPACE}; default: current]")
    run.add_argument(
        "--scheduler-image",
        help=f"image of the Dask scheduler [env {ctx.ENV_SCHEDULER_IMAGE}; default daskrun:VERSION]",
    )
    run.add_argument(
        "--worker-image",
        help=f"default image of the Dask workers [env {ctx.ENV_WORKER_IMAGE}; default: the scheduler's]",
    )
    run.add_argument("--release", help=f"Helm release name, for labels and the cluster name [env {ctx.ENV_RELEASE}]")
    run.add_argument("--run-id", help=f"run number (the Helm revision) [env {ctx.ENV_RUN_ID}]")
    run.add_argument(
        "--pod-name", help=f"this launcher's pod, to own the Dask cluster by its Job [env {ctx.ENV_POD_NAME}]"
    )
    run.add_argument(
        "--progress-interval",
        type=_progress_interval,
        default=10.0,
        metavar="SECONDS",
        help="log task progress this often; 0 turns it off",
    )
    run.add_argument(
        "--plain",
        action="store_true",
        help="with --local: the log only, no live status line below it on a terminal (none is drawn "
        "anyway into a pipe or a file, or with TERM=dumb)",
    )

    validate = commands.add_parser("validate", help="check a config file; exit 0, or 2 with every error")
    validate.add_argument("config")
    validate.add_argument(
        "--import",
        dest="import_function",
        action="store_true",
        help="also import run.function and bind run.args here, as `run` does (in this environment: no setup is run)",
    )

    recover = commands.add_parser(
        "recover", help="rebuild the result file (CSV, or Parquet for a .parquet output) from a run's log"
    )
    recover.add_argument("logfile", nargs="?", help="saved `kubectl logs` output, or - for stdin")
    recover.add_argument(
        "--job",
        metavar="NAME",
        help="read the log of every attempt (pod) of this Job instead, newest first: the result "
        "a retried Job printed may be in any of them",
    )
    recover.add_argument("-n", "--namespace", help="the Job's namespace [default: the kubeconfig's]")
    recover.add_argument("-o", "--output", help="write the file here instead of stdout")

    status = commands.add_parser(
        "status", help="one line per run in the namespace: phase, workers, tasks, elapsed, where the result is"
    )
    status.add_argument("release", nargs="?", help="only this Helm release's runs")
    status.add_argument("-n", "--namespace", help="[default: the kubeconfig's]")
    status.add_argument("-A", "--all-namespaces", action="store_true", help="the runs of every namespace")
    status.add_argument("-o", "--output", choices=("table", "json"), default="table")

    result = commands.add_parser(
        "result",
        help="fetch the result of the run a `helm install` of RELEASE started, from where the run "
        "stored it (S3, its PersistentVolumeClaim) or else its log; says on stderr where it came from",
    )
    _release_arguments(result)
    result.add_argument("-o", "--output", required=True, metavar="FILE", help="write the file here; - for stdout")

    report = commands.add_parser(
        "report",
        help="fetch the report of the run a `helm install` of RELEASE started (NAME.report.html, Dask's "
        "performance report, and NAME.run.json) from where the run stored it beside its result (S3, its "
        "PersistentVolumeClaim) into DIR; says on stderr where each came from",
    )
    _release_arguments(report)
    report.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="write both files into this folder (made if missing)"
    )

    logs = commands.add_parser(
        "logs", help="the launcher's log of a release's run; every attempt (pod) of its Job marked"
    )
    _release_arguments(logs)
    logs.add_argument(
        "--all-attempts", action="store_true", help="every attempt's log, oldest first, not the newest only"
    )
    logs.add_argument(
        "-f", "--follow", action="store_true", help="follow the run to its end, into the Job's next pod when one ends"
    )

    watch = commands.add_parser(
        "watch",
        help="follow a release's run to its end: phase, workers, a bar of tasks with rate and ETA (plain "
        "timestamped lines when stdout is not a terminal); exits with the run's exit code; Ctrl-C stops "
        "the watching, not the run",
    )
    _release_arguments(watch)

    submit = commands.add_parser("submit", help="helm install/upgrade this chart with CONFIG as values")
    submit.add_argument("config")
    submit.add_argument("--namespace", "-n", help="the release's namespace [default: the kubeconfig's]")
    submit.add_argument("--release", default=None)
    submit.add_argument(
        "--wait", action="store_true", help="then follow the run as `daskrun watch` does and exit with its code"
    )

    preflight = commands.add_parser("preflight", help="check that a release can run (helm test)")
    preflight.add_argument("--config", required=True)
    preflight.add_argument("--namespace", help=f"[env {ctx.ENV_NAMESPACE}; default: current]")
    preflight.add_argument("--release", help=f"[env {ctx.ENV_RELEASE}]")
    preflight.add_argument(
        "--controller",
        choices=ctx.CONTROLLER_MODES,
        help=f"[env {ctx.ENV_CONTROLLER}; default {ctx.DEFAULT_CONTROLLER}]",
    )

    commands.add_parser("schema", help="print the config's JSON Schema")
    # Not for people: the second container of a Kubernetes run's scheduler pod (daskrun.driver).
    drive = commands.add_parser("drive", help="(in the scheduler pod) call the run's function beside the scheduler")
    drive.add_argument("--preload", action="append", default=[], help="run this preload first, as Dask does")
    return parser


def _load(path: str, release: str | None, default_release: bool) -> tuple[Any, Any]:
    """The run's config and its Dask pods' settings (daskrun.values_check, as every command)."""
    from daskrun.values_check import check_values

    checked = check_values(path, release, default_release_name=default_release)
    return checked.config, checked.pods


def _context(args: argparse.Namespace, pods: Any) -> ctx.RunContext:
    context = ctx.from_flags(
        namespace=args.namespace,
        image=args.scheduler_image,
        worker_image=args.worker_image,
        release=args.release,
        run_id=args.run_id,
        controller=args.controller,
        pod_name=args.pod_name,
    )
    # The driver logs as the launcher does: the chart's logLevel reaches it through here.
    return dataclasses.replace(context, pods=pods, verbose=args.verbose)


def _readable_dumper() -> Any:
    import yaml

    class Dumper(yaml.SafeDumper):
        """Multi-line strings (the setup scripts) as `|` blocks, one shell line per line."""

    def text(dumper: yaml.SafeDumper, value: str) -> Any:
        style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper


def _serve_metrics(context: ctx.RunContext) -> None:
    """The launcher's /metrics, when the chart's metrics.enabled gave it a port. A port that
    cannot be served costs the metrics, never the run."""
    port = ctx.env(ctx.ENV_METRICS_PORT)
    if not port:
        return
    from daskrun import launcher_metrics, timeline

    try:
        launcher_metrics.serve(int(port), context.release or "", context.run_id or "", timeline.PHASES)
    except (ValueError, OverflowError, OSError) as exc:
        logging.getLogger("daskrun").warning("no launcher metrics on port %s: %s", port, exc)


def _run(args: argparse.Namespace) -> int:
    from daskrun import runner
    from daskrun.timeline import process_start

    config, pods = _load(args.config, args.release or ctx.env(ctx.ENV_RELEASE), default_release=args.dry_run)
    if args.isolated:
        from daskrun.isolated import run_isolated

        code = run_isolated([a for a in args.argv if a != "--isolated"])
        if code == ExitCode.OK:
            # The child runs guarded itself: its exit 0 already means its result was kept.
            exit_guard.mark_kept()
        return code
    if args.dry_run:
        import yaml

        from daskrun.manifest import build_cluster_spec

        spec = build_cluster_spec(config, _context(args, pods))
        print(f"# the Dask pods run as ServiceAccount {pods.service_account}")
        yaml.dump(spec, sys.stdout, Dumper=_readable_dumper(), sort_keys=False)
        return 0
    context = None if args.local else _context(args, pods)
    if context is not None:
        _serve_metrics(context)
    else:
        from daskrun import local_display

        # Ended in _main, once the exit code (and its error line in the log) is known.
        args.display = local_display.start(config, args.config, args.plain)
    for stop in STOP_SIGNALS:
        signal.signal(stop, _on_stop_signal)
    log = logging.getLogger("daskrun")
    try:
        runner.run_dask_function(
            config, local=args.local, context=context, progress_interval=args.progress_interval, started=process_start()
        )
    except Terminated as stop:
        if stop.cluster_left:
            log.error("stopped by %s; the Dask cluster was left to the Job's next pod", stop.signal_name)
        else:
            log.error("stopped by %s; the Dask cluster was deleted", stop.signal_name)
        return stop.exit_code
    return 0


def _validate(args: argparse.Namespace) -> int:
    from daskrun.parquet_engine import check_engine

    config, _ = _load(args.config, None, default_release=False)
    check_engine(config.output)
    if args.import_function:
        from daskrun.invoke import load_function

        load_function(config.run.function, config.run.args)
        print(f"{args.config}: valid; {config.run.function} imported and run.args fit it")
    else:
        print(f"{args.config}: valid")
    return 0


class _LogUnreadable(Exception):
    def __init__(self, error: OSError):
        self.error = error


def _read_lines(handle: Any) -> Iterator[bytes]:
    """The log's lines, a read failure told apart from a write failure."""
    try:
        yield from handle
    except OSError as exc:
        raise _LogUnreadable(exc) from exc


def _recover_into(pieces: Any, output: str | None) -> Any:
    """The log's last intact block written to `output`, or to stdout without one."""
    from daskrun.recover_file import recover_to_file, recover_to_stream

    if output:
        return recover_to_file(pieces, Path(output))
    sys.stdout.flush()
    return recover_to_stream(pieces, sys.stdout.buffer)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _recover(args: argparse.Namespace) -> int:
    from daskrun.result_block import RecoverError

    if (args.logfile is None) == (args.job is None):
        print("daskrun recover: give a LOGFILE (or - for stdin), or --job NAME, not both", file=sys.stderr)
        return 2
    if args.job is not None:
        return _recover_job(args)
    if args.output and args.logfile != "-" and _same_file(args.output, args.logfile):
        print(
            f"daskrun recover: -o {args.output} is the log itself, which it would overwrite; choose another -o path",
            file=sys.stderr,
        )
        return 2
    # Read line by line and written as it is read: a log of any size takes little memory.
    try:
        log: Any = contextlib.nullcontext(sys.stdin.buffer) if args.logfile == "-" else open(args.logfile, "rb")
    except OSError as exc:
        print(f"daskrun recover: cannot read {args.logfile}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        with log as handle:
            recovered = _recover_into(_read_lines(handle), args.output)
    except _LogUnreadable as exc:
        print(f"daskrun recover: cannot read {args.logfile}: {exc.error.strerror}", file=sys.stderr)
        return 1
    except RecoverError as exc:
        print(f"daskrun recover: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if not args.output:
            raise
        print(f"daskrun recover: cannot write {args.output}: {exc.strerror}; choose another -o path", file=sys.stderr)
        return 1
    for note in recovered.notes:
        print(f"daskrun recover: {note}", file=sys.stderr)
    if args.output:
        print(f"wrote {args.output} ({recovered.format}, {recovered.rows} rows)", file=sys.stderr)
    return 0


def _recover_job(args: argparse.Namespace) -> int:
    from daskrun.job_block import NoBlock, newest_block
    from daskrun.job_logs import JobLogError

    namespace = ctx.current_namespace(args.namespace)
    try:
        block = newest_block(namespace, args.job, lambda pieces: _recover_into(pieces, args.output))
    except JobLogError as exc:
        print(f"daskrun recover: {exc}", file=sys.stderr)
        return 1
    except NoBlock as exc:
        print(f"daskrun recover: {exc}:", file=sys.stderr)
        for miss in exc.misses:
            print(f"  {miss}", file=sys.stderr)
        return 1
    except OSError as exc:
        if not args.output:
            raise
        print(f"daskrun recover: cannot write {args.output}: {exc.strerror}; choose another -o path", file=sys.stderr)
        return 1
    recovered, attempt = block.found, block.attempt
    for note in recovered.notes:
        print(f"daskrun recover: {note}", file=sys.stderr)
    print(
        f"daskrun recover: the result of attempt {attempt.number} of {attempt.of} (pod {attempt.pod})"
        + (f"; wrote {args.output} ({recovered.format}, {recovered.rows} rows)" if args.output else ""),
        file=sys.stderr,
    )
    return 0


def _against_the_api(command: str, work: Callable[[Callable[[str], None]], int]) -> int:
    """`work(say)`, its errors said on stderr as `daskrun COMMAND: ...`; its exit code, or the error's."""

    def say(message: str) -> None:
        print(f"daskrun {command}: {message}", file=sys.stderr)

    try:
        return work(say)
    except DaskrunError as exc:
        say(defang(str(exc)))
        return exc.exit_code
    except Exception as exc:
        unreachable = _api_unreachable(exc)
        if not unreachable:
            raise
        say(f"cannot reach the Kubernetes API server ({unreachable}); check KUBECONFIG")
        return 1


def _result(args: argparse.Namespace) -> int:
    from daskrun.result_fetch import check_target, fetch

    def work(say: Callable[[str], None]) -> int:
        target = check_target(args.output)
        job, fetched = fetch(args.release, ctx.current_namespace(args.namespace), args.revision, target, say)
        print(
            f"daskrun: result of {args.release} revision {job.revision} from {fetched.where} "
            f"({fetched.size} bytes) written to {'stdout' if target is None else target}",
            file=sys.stderr,
        )
        return 0

    return _against_the_api("result", work)


def _report(args: argparse.Namespace) -> int:
    from daskrun.report_fetch import check_folder, fetch_report

    def work(say: Callable[[str], None]) -> int:
        folder = check_folder(args.output)
        job, files = fetch_report(args.release, ctx.current_namespace(args.namespace), args.revision, folder)
        for file in files:
            if file.written is not None:
                say(f"{file.name} from {file.where} ({file.size} bytes) written to {file.written}")
            else:
                say(f"{file.name} not fetched: {file.where}: {defang(file.missed or '')}")
        missed = [file.name for file in files if file.written is None]
        if missed:
            say(
                f"{len(missed)} of {len(files)} report files of {args.release} revision {job.revision} "
                f"(job/{job.name}) not found: {', '.join(missed)}"
            )
            return int(ResultNotFound.exit_code)
        return 0

    return _against_the_api("report", work)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "validate":
        return _validate(args)
    if args.command == "recover":
        return _recover(args)
    if args.command == "status":
        from daskrun.status_cli import cli_status

        return cli_status(args.release, args.namespace, args.all_namespaces, args.output)
    if args.command == "result":
        return _result(args)
    if args.command == "report":
        return _report(args)
    if args.command == "logs":
        from daskrun.launcher_logs import cli_logs

        return cli_logs(
            args.release, ctx.current_namespace(args.namespace), args.revision, args.all_attempts, args.follow
        )
    if args.command == "watch":
        from daskrun.watch import watch

        return watch(args.release, ctx.current_namespace(args.namespace), args.revision)
    if args.command == "submit":
        from daskrun.submit import cli_submit

        return cli_submit(args.config, args.namespace, args.release, args.wait)
    if args.command == "preflight":
        from daskrun.preflight import cli_preflight

        return cli_preflight(args.config, args.namespace, args.release, args.controller)
    if args.command == "drive":
        from daskrun.driver import drive

        return drive(args.preload)
    if args.command == "schema":
        from daskrun.config import config_json_schema

        json.dump(config_json_schema(), sys.stdout, indent=2)
        print()
        return 0
    raise AssertionError(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "run" and args.isolated and not args.local:
        parser.error("--isolated needs --local: pods install into their own containers anyway")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    guarded = args.command == "run" and not args.dry_run
    if guarded and exit_guard.ENV_MARKER not in os.environ:
        return exit_guard.run_guarded(args.argv)
    if guarded:
        exit_guard.take_marker()
    code = int(_main(args))
    if guarded:
        # The cluster is closed by now. Threads that kopf or dask leave behind (executor
        # threads are joined at interpreter exit) must not keep a finished launcher alive.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        exit_guard.mark_exit(code)
        os._exit(code)
    return code


def _main(args: argparse.Namespace) -> int:
    _configure_logging(args.verbose)
    code = None
    try:
        code = _exit_code(args)
        return code
    finally:
        display = getattr(args, "display", None)
        if display is not None:
            display.end(code)


def _exit_code(args: argparse.Namespace) -> int:
    log = logging.getLogger("daskrun")
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        # Outside `run` (which handles SIGINT itself) nothing needs cleaning up.
        print(f"daskrun {args.command}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except DaskrunError as exc:
        if exc.exit_code == ExitCode.BAD_CONFIG:
            # Nothing started: the message is for the person who wrote the config.
            print(f"daskrun: {defang(str(exc))}", file=sys.stderr)
        else:
            log.error("%s%s", exc.headline, exc)
        return exc.exit_code
    except Exception as exc:
        if args.command != "run":
            raise
        unreachable = _api_unreachable(exc)
        if unreachable:
            log.error(
                "cannot reach the Kubernetes API server (%s); check KUBECONFIG or the pod's "
                "service account, or use --local to run without Kubernetes",
                unreachable,
            )
            return ExitCode.CLUSTER_FAILED
        # Outside the function (which has its own exit code): the API server or the network,
        # so worth the Job's retries.
        log.exception("unexpected error: %s", exc)
        return ExitCode.CLUSTER_FAILED
