"""What `daskrun watch` shows of a run: a bar with rate and ETA on a terminal, plain timestamped
lines elsewhere, and at the end the outcome with the command to type next. Pure: it draws
daskrun.run_status's RunStatus; daskrun.watch fetches them. A local run's status line
(daskrun.local_display) is drawn from the same parts.
"""

from __future__ import annotations

import datetime
from collections import deque
from dataclasses import dataclass

from daskrun.errors import ExitCode
from daskrun.run_status import RunStatus, duration
from daskrun.run_summary import RunSummary
from daskrun.terminal_status import fit

ENDED = ("succeeded", "failed")
# A rate over the last minutes follows a run whose speed changes (a slow stage, workers lost)
# and still spans several of the launcher's progress lines (every 10 s by default).
RATE_WINDOW_SECONDS = 180.0
BAR_WIDTH, NARROWEST_BAR = 30, 10
_LOG_TIME = "%Y-%m-%d %H:%M:%S,%f"


def _seconds(logged_at: str) -> float | None:
    try:
        return datetime.datetime.strptime(logged_at, _LOG_TIME).timestamp()
    except ValueError:
        return None


class Rate:
    """Tasks per second from the launcher's own counts, timed by its log lines: the watch may
    start late or poll unevenly, the launcher's clock is the one that saw the tasks end."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS):
        self.window = window
        self._counts: deque[tuple[float, int]] = deque()

    def add(self, status: RunStatus) -> None:
        if status.progress_at is None or status.tasks_done is None:
            return
        at = _seconds(status.progress_at)
        if at is not None:
            self.count(at, status.tasks_done)

    def count(self, at: float, done: int) -> None:
        """`done` tasks counted at `at` (epoch seconds); a count no newer than the last is one seen already."""
        if self._counts and at <= self._counts[-1][0]:
            return
        if self._counts and done < self._counts[-1][1]:
            self._counts.clear()  # a new attempt counts from zero
        self._counts.append((at, done))
        while len(self._counts) > 2 and at - self._counts[1][0] >= self.window:
            self._counts.popleft()

    def per_second(self) -> float | None:
        if len(self._counts) < 2:
            return None
        (first_at, first), (last_at, last) = self._counts[0], self._counts[-1]
        return (last - first) / (last_at - first_at)


def eta_seconds(status: RunSummary, rate: float | None) -> float | None:
    """Time to finish the tasks known now; the function may submit more."""
    if rate is None or rate <= 0 or status.tasks_done is None or status.tasks_total is None:
        return None
    return max(status.tasks_total - status.tasks_done, 0) / rate


def bar(done: int, total: int, width: int) -> str:
    filled = 0 if total <= 0 else min(width, done * width // total)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def _phase(status: RunStatus) -> str:
    words = status.phase
    if status.reason and status.phase == "pending":
        words += f" ({status.reason})"
    if status.attempt > 1:
        words += f", attempt {status.attempt}"
    return words


def _workers(status: RunSummary) -> str:
    if status.workers is None:
        return "workers -"
    return f"workers {status.workers}" + (f"/{status.workers_wanted}" if status.workers_wanted else "")


def _speed(rate: float | None, eta: float | None) -> str:
    if rate is None:
        return ""
    text = f"{rate:.3g} tasks/s" if rate >= 0.01 else f"{rate * 3600:.3g} tasks/h"
    return text + (f", ETA {duration(eta)}" if eta is not None else "")


def _tasks(status: RunSummary) -> str:
    if status.tasks_total is None:
        return "tasks -"
    return f"{status.tasks_done}/{status.tasks_total} tasks"


def progress_text(status: RunSummary, rate: float | None, bar_width: int = BAR_WIDTH) -> str:
    """Workers joined/wanted, the bar of tasks done/total (none when `bar_width` is 0), the rate and the ETA."""
    tasks = _tasks(status)
    if status.tasks_total is not None and status.tasks_done is not None and bar_width > 0:
        tasks = f"{bar(status.tasks_done, status.tasks_total, bar_width)} {tasks}"
    speed = _speed(rate, eta_seconds(status, rate))
    return f"{_workers(status)}  {tasks}" + (f"  {speed}" if speed else "")


def terminal_lines(status: RunStatus, rate: float | None, columns: int) -> list[str]:
    """The display's lines, each cut to the terminal's width: a wrapped line would break the
    redraw in place."""
    head = f"{status.release} revision {status.revision} ({status.namespace}): {_phase(status)}"
    head += f" · {duration(status.elapsed_seconds)}"
    lines = [head, progress_text(status, rate)]
    if status.reason and status.phase == "waiting for workers":
        lines.append(f"waiting: {status.reason}")
    return [fit(line, columns) for line in lines]


def status_line(title: str, status: RunSummary, rate: float | None, columns: int) -> str:
    """The display in one line (a local run's, below its scrolling log): the bar gives up
    columns, then its place, before the rate and the ETA are cut."""
    head = f"{title}: {status.phase} · {duration(status.elapsed_seconds)}  "
    line = head + progress_text(status, rate)
    over = len(line) - (columns - 1)
    if over > 0:
        narrower = BAR_WIDTH - over
        line = head + progress_text(status, rate, narrower if narrower >= NARROWEST_BAR else 0)
    return fit(line, columns)


def plain_line(status: RunStatus, rate: float | None) -> str:
    """One line for a log file or a pipe; written when it differs from the one before."""
    parts = [f"{status.release} revision {status.revision}: {_phase(status)}", _workers(status), _tasks(status)]
    speed = _speed(rate, eta_seconds(status, rate))
    if speed:
        parts[-1] += f" ({speed})"
    if status.reason and status.phase == "waiting for workers":
        parts.append(f"waiting: {status.reason}")
    return "; ".join(parts)


def stamped(line: str, now: datetime.datetime) -> str:
    return f"{now.astimezone(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} {line}"


@dataclass(frozen=True)
class Outcome:
    lines: list[str]
    exit_code: int  # what `daskrun watch` exits with: the run's own code


def end_line(title: str, status: RunSummary) -> tuple[str, int]:
    """What happened to the run `title` names, with its exit code and the code's meaning."""
    code = status.exit_code if status.exit_code is not None else (0 if status.phase == "succeeded" else 1)
    said = f"{status.phase} (exit {code}" + (f": {status.reason})" if status.reason else ")")
    return f"{title} {said} after {duration(status.elapsed_seconds)}", code


def outcome(status: RunStatus) -> Outcome:
    """The end of the display: what happened, the exit code and its meaning, what to type next."""
    said, code = end_line(f"{status.release} revision {status.revision}", status)
    lines = [said]
    lines.append(f"result: {status.result}")
    where = f" -n {status.namespace}" if status.namespace else ""
    fetch = f"daskrun result {status.release}{where} -o FILE"
    if status.phase == "succeeded" and status.result.startswith("none"):
        lines.append(f"next: daskrun logs {status.release}{where}")
    elif status.phase == "succeeded":
        lines.append(f"next: {fetch}   (and daskrun report {status.release}{where} -o DIR)")
    elif code == ExitCode.NOT_STORED:
        lines.append(f"next: {fetch}   (the result is in the log)")
    else:
        lines.append(f"next: daskrun logs {status.release}{where} --all-attempts")
    return Outcome(lines, code)
