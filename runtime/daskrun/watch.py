"""`daskrun watch RELEASE` (and `daskrun submit --wait`): follow one run to its end.

It polls what `daskrun status` reads (the Job, its pods, the launcher's log: a user's read
rights) and draws daskrun.watch_view's display: redrawn in place on a terminal, plain
timestamped lines into a pipe or a file. It only reads: Ctrl-C stops the watching, never
the run. Its exit code is the run's.
"""

from __future__ import annotations

import datetime
import shutil
import sys
import time
from typing import Any, TextIO

from daskrun.run_status import RunStatus
from daskrun.status_cli import StatusError, api_client, collect
from daskrun.watch_view import ENDED, Outcome, Rate, outcome, plain_line, stamped, terminal_lines

POLL_SECONDS = 2.0
# An API server away for a moment is no reason to stop watching a run of hours.
UNREACHABLE_SECONDS = 300.0
_ERASE_LINE = "\x1b[2K"


def _up(lines: int) -> str:
    return f"\x1b[{lines}F" if lines else ""


class TerminalDisplay:
    """Redraws its lines in place: up to the first one, each erased and written again."""

    def __init__(self, out: TextIO):
        self.out = out
        self.drawn = 0

    def show(self, status: RunStatus, rate: float | None, note: str = "") -> None:
        lines = terminal_lines(status, rate, shutil.get_terminal_size().columns)
        if note:
            lines.append(note[: shutil.get_terminal_size().columns - 1])
        text = _up(self.drawn) + "".join(f"{_ERASE_LINE}{line}\n" for line in lines)
        left_over = self.drawn - len(lines)
        if left_over > 0:
            text += f"{_ERASE_LINE}\n" * left_over + _up(left_over)
        self.out.write(text)
        self.out.flush()
        self.drawn = len(lines)

    def say(self, line: str) -> None:
        self.out.write(f"{line}\n")
        self.out.flush()
        self.drawn = 0


class PlainDisplay:
    """A line when what it says changes: a log of the run's progress, not of the polling."""

    def __init__(self, out: TextIO):
        self.out = out
        self.last = ""

    def show(self, status: RunStatus, rate: float | None, note: str = "") -> None:
        line = plain_line(status, rate) + (f"; {note}" if note else "")
        if line != self.last:
            self.say(line)
            self.last = line

    def say(self, line: str) -> None:
        self.out.write(stamped(line, datetime.datetime.now(datetime.UTC)) + "\n")
        self.out.flush()


def watch(
    release: str,
    namespace: str,
    revision: int | None = None,
    *,
    out: TextIO | None = None,
    terminal: bool | None = None,
    poll: float = POLL_SECONDS,
) -> int:
    """Follow the newest run of `release` (or its run of `revision`) until it ends."""
    out = out or sys.stdout
    terminal = out.isatty() if terminal is None else terminal
    display: TerminalDisplay | PlainDisplay = TerminalDisplay(out) if terminal else PlainDisplay(out)
    again = f"daskrun watch {release} -n {namespace}"
    try:
        api = api_client()
    except StatusError as exc:
        print(f"daskrun watch: {exc}", file=sys.stderr)
        return 1
    with api:
        return _follow(api, display, release, namespace, revision, poll, again)


def _follow(
    api: Any,
    display: TerminalDisplay | PlainDisplay,
    release: str,
    namespace: str,
    revision: int | None,
    poll: float,
    again: str,
) -> int:
    try:
        runs = collect(namespace, release, False, revision, api)
    except StatusError as exc:
        print(f"daskrun watch: {exc}", file=sys.stderr)
        return 1
    if not runs:
        which = f"revision {revision} of release {release}" if revision else f"release {release}"
        print(f"daskrun watch: no run of {which} in namespace {namespace} (helm list -n {namespace})", file=sys.stderr)
        return 1
    followed = runs[-1]
    rate, reachable_at, note = Rate(), time.monotonic(), ""
    try:
        while True:
            rate.add(followed)
            display.show(followed, rate.per_second(), note)
            if followed.phase in ENDED:
                return _end(display, outcome(followed))
            time.sleep(poll)
            note = ""
            try:
                api = api or api_client()
                runs = collect(namespace, release, False, _number(followed.revision), api)
                reachable_at = time.monotonic()
            except StatusError as exc:
                if time.monotonic() - reachable_at > UNREACHABLE_SECONDS:
                    display.say(f"daskrun watch: {exc}; the run may go on: {again}")
                    return 1
                note = f"(cannot read the run: {exc}; trying again)"
                api = None  # anew from the kubeconfig: its credentials may have expired
                continue
            if not runs:
                display.say(
                    f"job/{followed.job} is gone (helm uninstall, or a newer revision replaced it): "
                    f"daskrun status {release} -n {namespace}"
                )
                return 1
            followed = runs[-1]
    except KeyboardInterrupt:
        display.say(f"stopped watching; the run goes on: {again}")
        return 130


def _number(revision: str) -> int | None:
    return int(revision) if revision.isdigit() else None


def _end(display: TerminalDisplay | PlainDisplay, end: Outcome) -> int:
    for line in end.lines:
        display.say(line)
    return end.exit_code
