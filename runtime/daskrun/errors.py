"""Every outcome of `daskrun run` and its exit code, and the one error hierarchy behind them.

`EXIT_CODES` is the only place an exit code's meaning is written: the CLI's help, the README
tables (`make docs`) and the chart's podFailurePolicy (tested in tests/chart) follow it. Each
domain error carries its code, so the CLI catches `DaskrunError` alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from daskrun.credentials import redact


class ExitCode(enum.IntEnum):
    OK = 0
    FUNCTION_FAILED = 1
    BAD_CONFIG = 2
    NOT_STORED = 3
    CLUSTER_FAILED = 4
    INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2, as shells report it
    TERMINATED = 143  # SIGTERM: 128 + 15


class JobAction(enum.Enum):
    """What the chart's Job does with a launcher pod that ended with the code."""

    SUCCEEDS = "succeeds"
    FAILS = "fails, no retry"  # podFailurePolicy FailJob
    RETRIED = "retried up to `job.backoffLimit`"
    NONE = "—"  # stopped from outside: the Job is being deleted or replaced


@dataclass(frozen=True)
class Outcome:
    code: ExitCode
    meaning: str
    job: JobAction
    short: str  # a few words for one line of `daskrun status`


# 1 fails the Job at once too: the function raised with the same code, arguments and data,
# so a retry fails the same way after repeating the work. 3 would recompute hours of work
# whose result is already in the log. 4 (like a killed pod) may be transient.
EXIT_CODES: tuple[Outcome, ...] = (
    # None with no `output` is a success on purpose: the function stored its results itself.
    Outcome(
        ExitCode.OK,
        "done; the result is stored (or printed when there is no `output`), or the "
        "function returned `None` and there is no `output`",
        JobAction.SUCCEEDS,
        "done",
    ),
    Outcome(
        ExitCode.FUNCTION_FAILED,
        "the function raised (traceback in the log; `sys.exit` and `KeyboardInterrupt` too), "
        "returned something other than a DataFrame, or `None` although `output` is set, or user "
        "code ended the process before the result was kept (e.g. `os._exit(0)`, or `os._exit(3)`: "
        "a code daskrun did not choose is never passed on)",
        JobAction.FAILS,
        "the function failed",
    ),
    Outcome(
        ExitCode.BAD_CONFIG,
        "bad config, function not importable, bad args, launcher setup failed — nothing started; "
        "or the Dask images differ from the launcher in a package that must match (dask, "
        "distributed, ...) — the cluster is deleted before the function starts",
        JobAction.FAILS,
        "bad config, setup or image versions; function not started",
    ),
    Outcome(
        ExitCode.NOT_STORED,
        "the result could not be stored; it is printed in the log between `BEGIN/END DASKRUN RESULT` markers",
        JobAction.FAILS,
        "result not stored, it is in the log",
    ),
    Outcome(
        ExitCode.CLUSTER_FAILED,
        "the Dask cluster did not come up (the scheduler/worker reason is "
        "logged), or the Kubernetes API server could not be reached",
        JobAction.RETRIED,
        "the Dask cluster did not come up",
    ),
    Outcome(
        ExitCode.INTERRUPTED,
        "stopped by SIGINT (Ctrl-C); the Dask cluster was deleted first",
        JobAction.NONE,
        "stopped by SIGINT",
    ),
    Outcome(
        ExitCode.TERMINATED,
        "stopped by SIGTERM; the Dask cluster was deleted first, or, when the launcher's Job owns "
        "it (the chart), left running for the Job's next pod, which re-attaches to the run",
        JobAction.RETRIED,
        "stopped by SIGTERM",
    ),
)
OUTCOMES = {outcome.code: outcome for outcome in EXIT_CODES}
# The exit codes the chart's podFailurePolicy turns into FailJob.
FAIL_JOB_CODES = tuple(int(o.code) for o in EXIT_CODES if o.job is JobAction.FAILS)


def exit_code_table() -> str:
    """The exit codes as a Markdown table (README.md and chart/README.md, via `make docs`)."""
    rows = ["| code | meaning | the Job |", "| --- | --- | --- |"]
    rows += [f"| {int(o.code)} | {o.meaning} | {o.job.value} |" for o in EXIT_CODES]
    return "\n".join(rows)


def exit_code_summary() -> str:
    """One line per code, for `daskrun --help`."""
    return "\n".join(f"  {int(o.code):>3}  {o.meaning.replace('`', '')}" for o in EXIT_CODES)


# What user code (the function, its module's import, a preload) may raise that is its own
# failure, SystemExit and KeyboardInterrupt included: `sys.exit(0)` in a function stored
# nothing and must not end the run with 0. Ctrl-C and SIGTERM reach `run` as cli.Terminated,
# never as one of these.
USER_CODE_ERRORS: tuple[type[BaseException], ...] = (Exception, SystemExit, KeyboardInterrupt)


class Stopped(BaseException):
    """A stop signal (SIGTERM, SIGINT) unwinding the run; cli.Terminated is the one raised."""

    cluster_left = False  # set when the run's Job keeps the Dask cluster for its next pod


class DaskrunError(Exception):
    """A failure `daskrun` explains itself: the message says what and the fix, no traceback."""

    exit_code: ExitCode = ExitCode.FUNCTION_FAILED
    # How the log introduces the message (the CLI prints it after this).
    headline = ""

    @property
    def retried(self) -> bool:
        """Whether the chart's Job runs the launcher again after this error."""
        return OUTCOMES[self.exit_code].job is JobAction.RETRIED


class ConfigError(DaskrunError):
    """The config is invalid; ``errors`` holds one ``(key_path, message)`` per problem."""

    exit_code = ExitCode.BAD_CONFIG

    def __init__(self, errors: list[tuple[str, str]], source: str | None = None):
        self.errors = errors
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        head = f"invalid config{f' in {self.source}' if self.source else ''}:"
        # Messages may quote the input, so the input's credentials must not reach the log.
        return redact("\n".join([head] + [f"  {key}: {message}" for key, message in self.errors]))


class InvokeError(DaskrunError):
    """`run.function` cannot be imported or called with `run.args` (see daskrun.invoke)."""

    exit_code = ExitCode.BAD_CONFIG


class SetupError(DaskrunError):
    """A setup step failed in the launcher; its output names the step."""

    exit_code = ExitCode.BAD_CONFIG


class OwnershipError(DaskrunError):
    """This launcher's own pod cannot be read, so its Dask cluster could have no owner."""

    exit_code = ExitCode.BAD_CONFIG


class SubmitError(DaskrunError):
    """Something needed to submit is missing or refused; the message says what and the fix."""

    exit_code = ExitCode.BAD_CONFIG


class ClusterStartError(DaskrunError):
    """The Dask cluster did not come up; the message carries the scheduler/worker reason."""

    exit_code = ExitCode.CLUSTER_FAILED
    headline = "the Dask cluster did not come up: "


class VersionMismatch(DaskrunError):
    """Launcher, scheduler or workers run another version of a package every Dask process of a
    run must share (daskrun.version_check): the message names it, both versions, where each
    runs and the image to change. 2, not 4: the same images differ again on a retry."""

    exit_code = ExitCode.BAD_CONFIG


class FunctionFailed(DaskrunError):
    exit_code = ExitCode.FUNCTION_FAILED


class ResultNotStored(DaskrunError):
    """Storing failed; the whole result was printed to the log and is kept in `.result`."""

    exit_code = ExitCode.NOT_STORED

    def __init__(self, message: str, result: Any):
        super().__init__(message)
        self.result = result


class ResultNotFound(DaskrunError):
    """`daskrun result` (or `daskrun report`) found no run of the release, or no copy of what it
    fetches: the message names every place it looked. 1, as `daskrun recover` exits without an
    intact block."""

    exit_code = ExitCode.FUNCTION_FAILED


class ResultTargetError(DaskrunError):
    """`daskrun result -o` names something it cannot write (a directory, a missing folder), or
    `daskrun report -o` a folder it cannot make (an existing file)."""

    exit_code = ExitCode.BAD_CONFIG


def clip(text: str, limit: int = 60) -> str:
    """A value short enough to quote in a message."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
