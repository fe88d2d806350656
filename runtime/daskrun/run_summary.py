"""A run's summary in one set of words: what `daskrun status` prints for it (read from its Job
and the launcher's log) and what the launcher writes into its run.json (`status`) when it ends,
so a finished run reads the same from either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from daskrun.errors import OUTCOMES, ExitCode

SUCCEEDED, FAILED = "succeeded", "failed"  # the phases of a finished run
NO_RESULT = "none"
RETURNED_NONE = "none (the function returned None)"


@dataclass(frozen=True)
class RunSummary:
    phase: str  # pending / setting up / ... / succeeded / failed / suspended
    exit_code: int | None
    reason: str  # why it is pending or failed, or the exit code's meaning; "" when none
    workers: int | None
    workers_wanted: int | None
    tasks_done: int | None
    tasks_total: int | None
    elapsed_seconds: float | None
    result: str  # where the result is

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def finished_phase(exit_code: int | None) -> str:
    return SUCCEEDED if exit_code == ExitCode.OK else FAILED


def meaning(code: int | None) -> str:
    """An exit code in a few words: daskrun's own (daskrun.errors), a signal's, or neither."""
    if code is None:
        return ""
    if code in OUTCOMES:
        return OUTCOMES[ExitCode(code)].short
    if code > 128:
        return f"killed by signal {code - 128}"
    return "not a daskrun exit code"


def in_the_log(job: str | None) -> str:
    """Where a result that was printed into the launcher's log is, and how to get it back."""
    if job is None:
        return "in the log: daskrun recover LOGFILE -o FILE"
    return f"in the log: daskrun recover --job {job} -o FILE"
