"""`daskrun run FILE --local` on a terminal: the log scrolls, and below it one status line, as
`daskrun watch` draws a run: phase, workers joined/wanted, a bar of tasks done/total with rate
and ETA; at the end the outcome, the exit code and what to do next.

The line is drawn from what this process knows already (daskrun.timeline's phases, the counts
of daskrun.progress and of the wait for workers); nothing asks a cluster for it. When the log
does not go to a terminal (a pipe, a file, CI), with --plain, or with TERM=dumb, nothing is
drawn and the log is what it always was.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TextIO

from daskrun import output, progress, timeline
from daskrun.config import Config
from daskrun.errors import ExitCode
from daskrun.run_record import REPORT_SUFFIX, report_outputs
from daskrun.run_status import phase_word
from daskrun.run_summary import RETURNED_NONE, RunSummary, finished_phase, meaning
from daskrun.terminal_status import StatusLine, StatusLineHandler, WrittenAbove
from daskrun.watch_view import Rate, end_line, status_line

PRINTED = "printed on stdout"


def wanted(stream: TextIO) -> bool:
    """A status line where a person watches the log: a terminal that can draw one."""
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def _title(config: Config) -> str:
    # The function's own name: its module is in the log's `running ...` line.
    return config.run.function.replace(":", ".").rsplit(".", 1)[-1]


class LocalRun:
    """What the status line says of the run in this process, as it is now."""

    def __init__(self, config: Config, config_path: str):
        self.config = config
        self.config_path = config_path
        self.title = _title(config)
        self.rate = Rate()

    def _phases(self) -> set[str]:
        line = timeline.current()
        return {phase for phase, _ in line.ordered()} if line else set()

    def summary(self, phase: str, exit_code: int | None = None, result: str = "not yet") -> RunSummary:
        line, counts = timeline.current(), progress.counted()
        return RunSummary(
            phase=phase,
            exit_code=exit_code,
            reason=meaning(exit_code),
            workers=counts.workers if counts else None,
            workers_wanted=self.config.dask_cluster.workers_to_wait_for or None,
            tasks_done=counts.done if counts else None,
            tasks_total=counts.total if counts else None,
            elapsed_seconds=time.time() - line.start if line else None,
            result=result,
        )

    def status(self, columns: int) -> str:
        counts = progress.counted()
        if counts is not None and counts.done is not None:
            self.rate.count(counts.at, counts.done)
        return status_line(self.title, self.summary(phase_word(self._phases())), self.rate.per_second(), columns)

    def _result(self, code: int) -> str:
        stored = self.config.output
        if code == ExitCode.OK and stored is not None:
            return output.location(stored)
        if code == ExitCode.OK:
            return PRINTED if timeline.RESULT_STORED in self._phases() else RETURNED_NONE
        if code == ExitCode.NOT_STORED:
            return f"not stored; {PRINTED} between the result markers"
        return "none"

    def _next(self, code: int) -> str | None:
        again = f"daskrun run {self.config_path} --local"
        stored = self.config.output
        if code == ExitCode.OK and stored is not None:
            if stored.report and not stored.is_s3:
                report = dict(report_outputs(stored))[REPORT_SUFFIX]
                return f"next: open {output.location(report)}   (Dask's performance report of this run)"
            return None
        if code == ExitCode.OK and timeline.RESULT_STORED in self._phases():
            return f"next: set output.path in {self.config_path} to keep the result as a file"
        if code == ExitCode.OK:
            return None
        if code == ExitCode.NOT_STORED:
            return f"next: daskrun recover SAVED_STDOUT -o FILE   (stdout on this terminal? {again} > run.log)"
        if code == ExitCode.BAD_CONFIG:
            return f"next: daskrun validate {self.config_path} --import"
        if code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
            return f"next: {again}   (to run it again)"
        # -v is the top-level flag: after `run` argparse refuses it.
        return f"next: the error in the log above; daskrun -v run {self.config_path} --local adds Dask's own INFO lines"

    def outcome(self, code: int) -> list[str]:
        said, _ = end_line(self.title, self.summary(finished_phase(code), code, self._result(code)))
        lines = [said, f"result: {self._result(code)}"]
        step = self._next(code)
        return lines + ([step] if step else [])


class LocalDisplay:
    """The status line on stderr while the run goes on: the log's handler replaced by one that
    writes above the line, and stdout too when it is the same terminal (the function's prints,
    the result table)."""

    def __init__(self, run: LocalRun, handler: logging.StreamHandler, stream: TextIO):
        self.run = run
        self.line = StatusLine(stream, run.status)
        self._replaced = handler
        self._handler = StatusLineHandler(self.line)
        self._handler.setFormatter(handler.formatter)
        self._handler.setLevel(handler.level)
        for kept in handler.filters:  # the redaction and the block markers' guard
            self._handler.addFilter(kept)
        self._streams = (sys.stdout, sys.stderr)

    def start(self) -> LocalDisplay:
        root = logging.getLogger()
        root.removeHandler(self._replaced)
        root.addHandler(self._handler)
        stdout, stderr = self._streams
        sys.stderr = WrittenAbove(self.line, stderr)
        if _same_terminal(stdout, stderr):
            sys.stdout = WrittenAbove(self.line, stdout)
        self.line.redraw()
        self.line.keep_drawn()
        return self

    def end(self, code: int | None) -> None:
        """The status line gives way to the outcome (none when `code` is None: the run's end
        is unknown), the log's own handler comes back."""
        self.line.end(self.run.outcome(code) if code is not None else ())
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.addHandler(self._replaced)
        sys.stdout, sys.stderr = self._streams


def _same_terminal(one: TextIO, other: TextIO) -> bool:
    try:
        return one.isatty() and os.path.samestat(os.fstat(one.fileno()), os.fstat(other.fileno()))
    except (AttributeError, ValueError, OSError):
        return False


def start(config: Config, config_path: str, plain: bool) -> LocalDisplay | None:
    """Show the status line below the log when the log goes to a terminal, and not `plain`."""
    if plain:
        return None
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and handler.stream is sys.stderr and wanted(sys.stderr):
            return LocalDisplay(LocalRun(config, config_path), handler, sys.stderr).start()
    return None
