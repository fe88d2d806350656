"""The run report that outlives the cluster: `<name>.report.html` and `<name>.run.json`.

Both are stored beside the result, in the same store (local path, PVC or S3), after the result.
Everything here is best effort: a report that cannot be made or stored is a warning in the
log, never a failed run or a lost result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daskrun import output, timeline
from daskrun._version import __version__
from daskrun.config import Config, Output
from daskrun.credentials import redact
from daskrun.errors import ExitCode
from daskrun.run_summary import NO_RESULT, RunSummary, finished_phase, in_the_log, meaning

log = logging.getLogger(__name__)

REPORT_SUFFIX = ".report.html"
RECORD_SUFFIX = ".run.json"
REPORT_FILES = (REPORT_SUFFIX, RECORD_SUFFIX)  # in the order `RunRecord.store` writes them
FORMAT = 1  # bumped when a key of run.json changes meaning
REPORT_JS = "inline"  # how report.html carries BokehJS (bokeh.resources.Resources mode)
CODE_CHARS = 2000  # of the arguments in the report's "Calling Code"


def report_outputs(result: Output) -> list[tuple[str, Output]]:
    """(suffix, where it goes) of each report file of a run whose result goes to `result`: what
    `RunRecord.store` writes and `daskrun report` fetches."""
    return [(suffix, output.beside(result, suffix)) for suffix in REPORT_FILES]


def worker_counts(events: Any) -> list[tuple[float, int]]:
    """Workers connected over time, from the scheduler's add-worker/remove-worker events."""
    series: list[tuple[float, int]] = []
    count = 0
    for at, message in sorted(events or (), key=lambda event: event[0]):
        action = message.get("action") if isinstance(message, dict) else None
        if action == "add-worker":
            count += 1
        elif action == "remove-worker":
            count = max(0, count - 1)
        else:
            continue
        series.append((float(at), count))
    return series


def task_summary(stream: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and time spent from the scheduler's task stream."""
    from dask.utils import key_split

    statuses: Counter[str] = Counter()
    prefixes: Counter[str] = Counter()
    seconds: dict[str, float] = {}
    for task in stream:
        statuses[str(task.get("status", "OK"))] += 1
        prefixes[key_split(task.get("key"))] += 1
        for step in task.get("startstops") or ():
            action = str(step.get("action"))
            seconds[action] = seconds.get(action, 0.0) + float(step["stop"]) - float(step["start"])
    return {
        "total": sum(statuses.values()),
        "by_status": dict(statuses),
        "by_prefix": dict(prefixes.most_common(50)),
        "seconds_by_action": {action: round(value, 3) for action, value in seconds.items()},
    }


def result_shape(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    columns = [str(c) for c in result.columns]
    return {
        "rows": int(len(result)),
        "columns": len(columns),
        "column_names": columns[:100],
        "memory_bytes": int(result.memory_usage(deep=True).sum()),
    }


def packages(versions: dict[str, Any] | None) -> dict[str, Any]:
    """Package versions of launcher and scheduler; for workers, every version seen."""
    versions = versions or {}

    def of(info: Any) -> dict[str, Any]:
        return dict((info or {}).get("packages") or {})

    workers: dict[str, set[str]] = {}
    for info in (versions.get("workers") or {}).values():
        for package, version in of(info).items():
            workers.setdefault(package, set()).add(str(version))
    return {
        "launcher": of(versions.get("client")),
        "scheduler": of(versions.get("scheduler")),
        "workers": {package: sorted(seen) for package, seen in sorted(workers.items())},
    }


def peak_memory() -> int | None:
    """The launcher's peak resident memory so far (Linux reports KiB)."""
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except Exception:  # noqa: BLE001 - not on every platform
        return None


class RunRecord:
    """Collects what run.json holds while the run goes on; `store` writes both files."""

    def __init__(self, config: Config, where: str):
        self.config = config
        self.where = where  # "local" or "kubernetes"
        self.enabled = config.output is not None and config.output.report
        self.report_html: bytes | None = None
        self.tasks: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.versions: dict[str, Any] | None = None
        self.worker_events: list[tuple[float, int]] = []
        self.exit_code: int | None = None
        self.error: str | None = None
        self.job: str | None = None  # the launcher's Job, in a Kubernetes run

    @contextlib.contextmanager
    def observe(self, client: Any) -> Iterator[None]:
        """Around the function call and the storing of its result, while the cluster lives:
        Dask's performance report, the task stream and the workers' comings and goings."""
        if not self.enabled:
            yield
            return
        from distributed import performance_report

        report = None
        with tempfile.TemporaryDirectory(prefix="daskrun-report-") as folder:
            path = Path(folder) / "report.html"
            try:
                # BokehJS inline, not from its CDN: the report is read later, often where that
                # CDN is not reachable (a closed cluster, offline), and would show a blank page.
                report = performance_report(filename=str(path), mode=REPORT_JS)
                report.__enter__()
            except Exception as exc:  # noqa: BLE001 - the report is best effort; never fail the run
                log.warning("no performance report for this run: %s", exc)
                report = None
            try:
                yield
            finally:
                if report is not None:
                    try:
                        # Its own __exit__ would show the code around it: daskrun's, not the user's.
                        client.sync(report.__aexit__, None, None, None, code=self.calling_code())
                        self.report_html = path.read_bytes()
                    except Exception as exc:  # noqa: BLE001 - the report is best effort; never fail the run
                        log.warning("no performance report for this run: %s: %s", type(exc).__name__, exc)
                try:
                    # All of it: the cluster is this run's, and its stream began with the report.
                    # (Asking from a time cuts by a binary search over a list that is in order of
                    # completion, not of start, and misses tasks.)
                    self.tasks = task_summary(client.get_task_stream(start=0))
                except Exception as exc:  # noqa: BLE001 - the report is best effort; never fail the run
                    log.warning("no task summary for this run: %s", exc)
                try:
                    self.worker_events = worker_counts(client.get_events("all"))
                except Exception as exc:  # noqa: BLE001 - the report is best effort; never fail the run
                    log.warning("no worker history for this run: %s", exc)

    def calling_code(self) -> str:
        """The report's "Calling Code": the run's function and its arguments, as run.json has them."""
        args = json.dumps(self.config.public_dict()["run"].get("args") or {}, default=str)
        if len(args) > CODE_CHARS:
            args = args[:CODE_CHARS] + " ..."
        return f"{self.config.run.function}(**{args})"

    def finish(self, exc: BaseException | None) -> None:
        if exc is None:
            self.exit_code = 0
        else:
            self.exit_code = getattr(exc, "exit_code", None)
            # As redacted as the log line that says the same.
            self.error = redact(f"{type(exc).__name__}: {exc}".strip())[:4000]

    def result_place(self) -> str:
        """Where the result is once the run ended, in `daskrun status`'s words, from this pod's
        own outcome (a pod that finds the result kept by an earlier one stores no record)."""
        if self.exit_code == ExitCode.OK and self.config.output is not None:
            return output.location(self.config.output)
        if self.exit_code == ExitCode.NOT_STORED:
            return in_the_log(self.job)
        return NO_RESULT

    def summary(self) -> RunSummary:
        """What `daskrun status` says of this run once it has finished, from the launcher's own
        record: the tasks that ran (the task stream) and the workers connected at the end."""
        line = timeline.current()
        tasks = self.tasks
        return RunSummary(
            phase=finished_phase(self.exit_code),
            exit_code=self.exit_code,
            reason=meaning(self.exit_code),
            workers=self.worker_events[-1][1] if self.worker_events else None,
            workers_wanted=self.config.dask_cluster.workers_to_wait_for or None,
            tasks_done=tasks["by_status"].get("OK", 0) if tasks else None,
            tasks_total=tasks["total"] if tasks else None,
            elapsed_seconds=round(time.time() - line.start, 3) if line else None,
            result=self.result_place(),
        )

    def as_dict(self) -> dict[str, Any]:
        line = timeline.current()
        phases = line.as_dict() if line else {}
        start = line.start if line else 0.0
        return {
            "format": FORMAT,
            "daskrun": __version__,
            "where": self.where,
            "function": self.config.run.function,
            "config": self.config.public_dict(),
            "exit_code": self.exit_code,
            "error": self.error,
            "status": self.summary().as_dict(),
            "timeline": phases.get("phases", []),
            "started": phases.get("started"),
            "workers": [{"seconds": round(at - start, 3), "count": count} for at, count in self.worker_events],
            "tasks": self.tasks,
            "result": self.result,
            "packages": packages(self.versions),
            "launcher": {
                "python": platform.python_version(),
                "host": platform.node(),
                "pid": os.getpid(),
                "peak_memory_bytes": peak_memory(),
            },
        }

    def store(self) -> None:
        """Write both files beside the result; log where they went, or why not. Never raises."""
        if not self.enabled:
            return
        try:
            self._store()
        except Exception as exc:  # noqa: BLE001 - the report is best effort; never fail the run
            log.warning("run report not stored: %s: %s", type(exc).__name__, exc)

    def _store(self) -> None:
        assert self.config.output is not None
        contents = {RECORD_SUFFIX: json.dumps(self.as_dict(), indent=2, default=str).encode()}
        if self.report_html is not None:
            contents[REPORT_SUFFIX] = self.report_html
        for suffix, target in report_outputs(self.config.output):
            if suffix not in contents:
                continue
            try:
                where = output.store_bytes(contents[suffix], target)
            except output.StoreError as exc:
                log.warning("run report %s not stored at %s: %s", suffix, target.path, exc)
                continue
            log.info("run report stored at %s", where)
