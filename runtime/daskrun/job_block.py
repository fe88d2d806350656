"""The result block of a Job's newest attempt that printed an intact one: `daskrun recover --job`
and the log fallback of `daskrun result` alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from daskrun.job_logs import Attempt, attempts, log_pieces
from daskrun.result_block import Found, RecoverError


@dataclass(frozen=True)
class JobBlock:
    attempt: Attempt
    found: Found


class NoBlock(Exception):
    """No attempt printed an intact block; `misses` says, per attempt, why."""

    def __init__(self, job: str, misses: list[str]):
        super().__init__(f"no attempt of job/{job} printed an intact result block")
        self.misses = misses


def newest_block(namespace: str, job: str, recover_into: Callable[[Iterable[bytes]], Found]) -> JobBlock:
    """Read each attempt's log, newest first, into `recover_into` until one holds an intact block.

    Raises job_logs.JobLogError when the pods cannot be listed or a log read, NoBlock when
    none has a block; OSError from `recover_into` (writing the file) passes through."""
    misses = []
    for attempt in attempts(namespace, job):
        try:
            found = recover_into(log_pieces(namespace, attempt.pod))
        except RecoverError as exc:
            misses.append(f"attempt {attempt.number} (pod {attempt.pod}): {exc}")
            continue
        return JobBlock(attempt, found)
    raise NoBlock(job, misses)
