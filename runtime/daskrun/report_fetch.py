"""`daskrun report RELEASE -o DIR`: a run's report (`<name>.report.html` and `<name>.run.json`,
daskrun.run_record) from where the run stored it, beside its result.

The run is found, and its files located and copied, as `daskrun result` does (daskrun.result_fetch,
daskrun.result_source, daskrun.reader_pod); but the report is never printed, so there is no log
to fall back to. A failed run stores its report too (all but a bad config, which stops before
anything started), so a failed Job is read like a finished one, each file on its own.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from daskrun.config import Config
from daskrun.errors import ResultNotFound, ResultTargetError
from daskrun.reader_pod import ReaderPodError, copy_through_pod
from daskrun.result_fetch import SourceMissed, deliver, download_s3, find_run
from daskrun.result_source import FAILED, FromClaim, FromS3, InPod, LauncherJob, not_finished, stored_at
from daskrun.run_record import report_outputs


@dataclass(frozen=True)
class ReportFile:
    """One report file: where it was, and the copy in DIR or why there is none."""

    name: str  # as the run named it, and as it is written in DIR
    where: str  # s3://... or pvc/CLAIM:PATH
    written: Path | None = None
    size: int = 0
    missed: str | None = None


def check_folder(text: str) -> Path:
    """The folder `-o` names, refused when it is something else; made once the run is known to
    have stored a report."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ResultTargetError(
            f"-o {text} is a file; name a folder for the two report files, e.g. -o {path.parent / 'report'}"
        )
    return path


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultTargetError(f"cannot create the folder {path}: {exc.strerror}; choose another -o") from exc


def report_locations(config: Config, job: LauncherJob) -> list[tuple[str, FromS3 | FromClaim]]:
    """(file name, where) of each report file the run stored; ResultNotFound when it stored none
    that outlived its pod."""
    waiting = not_finished(job)
    if waiting is not None:
        raise ResultNotFound(waiting.why)
    output = config.output
    if output is None:
        raise ResultNotFound(
            f"job/{job.name} has no `output`: a run stores its report beside a stored result only; "
            "set output.path (an S3 object, or a file on a claim: outputVolume.create or existingClaim) to have one next time"
        )
    if not output.report:
        raise ResultNotFound(
            f"job/{job.name} ran with output.report false: it stored no report; "
            "leave output.report out (true is the default) to have one next time"
        )
    located = []
    for _, target in report_outputs(output):
        where = stored_at(target, job)
        if isinstance(where, InPod):
            # Beside the result, so in the same place: one such file means the whole report.
            raise ResultNotFound(f"job/{job.name} left no report to fetch: {where.why('its report')}")
        located.append((posixpath.basename(target.path or ""), where))
    return located


def fetch_one(job: LauncherJob, name: str, source: FromS3 | FromClaim, folder: Path) -> ReportFile:
    """Copy one file into `folder` atomically; a file not found is a ReportFile saying why."""
    copy: Callable[[BinaryIO], object]
    if isinstance(source, FromS3):
        where, copy = source.url, (lambda handle: download_s3(source, job, handle))
    else:
        where, copy = source.where, (lambda handle: copy_through_pod(job, source, handle))
    _make_folder(folder)
    try:
        size = deliver(folder / name, copy)
    except (SourceMissed, ReaderPodError) as exc:
        missed = str(exc)
        if job.state == FAILED:
            missed += (
                f" (job/{job.name} failed, {job.state_detail or 'no reason given'}: a run stopped by a bad "
                "config stores no report)"
            )
        return ReportFile(name, where, missed=missed)
    return ReportFile(name, where, written=folder / name, size=size)


def fetch_report(
    release: str, namespace: str, revision: int | None, folder: Path
) -> tuple[LauncherJob, list[ReportFile]]:
    """Find the run and copy each of its report files into `folder`."""
    job, config = find_run(release, namespace, revision)
    return job, [fetch_one(job, name, source, folder) for name, source in report_locations(config, job)]
