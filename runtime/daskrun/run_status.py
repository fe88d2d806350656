"""What `daskrun status` says about one run: read from its Job, the Job's pods and the newest
launcher's log, the objects a user who can read pods, jobs and logs can see. Pure: the
objects come as the API's JSON (what `kubectl get -o json` prints), so a test builds them.

The log is the launcher's own record of where the run is (daskrun.timeline's phase lines,
the worker and progress lines); the driver's log relayed into it is the user's code, which
could print the same words: the status of a run is only as honest as its function.
"""

from __future__ import annotations

import datetime
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from daskrun import timeline
from daskrun.errors import ExitCode
from daskrun.job_logs import RUN_CONTAINER
from daskrun.kept_mark import read_mark
from daskrun.result_source import launcher_job
from daskrun.run_labels import INSTANCE_LABEL, REVISION_LABEL
from daskrun.run_summary import FAILED, NO_RESULT, RETURNED_NONE, SUCCEEDED, RunSummary, in_the_log, meaning

# The launcher's phases (daskrun.timeline) as the words of the status column.
_PHASE_WORDS = (
    ({timeline.LAUNCHER_STARTED, timeline.CONFIG_LOADED}, "setting up"),
    ({timeline.SETUP_DONE, timeline.FUNCTION_IMPORTED}, "starting the cluster"),
    (
        {timeline.CLUSTER_CREATED, timeline.SCHEDULER_RUNNING, timeline.SCHEDULER_CONNECTED, timeline.FIRST_WORKER},
        "waiting for workers",
    ),
    ({timeline.ALL_WORKERS, timeline.FUNCTION_STARTED}, "running"),
    ({timeline.FUNCTION_FINISHED}, "storing"),
    ({timeline.RESULT_STORED, timeline.CLUSTER_DELETED}, "cleaning up"),
)
_LINE = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \w+ +"
_PHASE = re.compile(_LINE + r"daskrun\.timeline: phase: (?P<phase>[a-z ]+) at \+", re.M)
_JOINED = re.compile(_LINE + r"daskrun\.cluster: workers joined: (?P<joined>\d+)/(?P<wanted>\d+)", re.M)
_PROGRESS = re.compile(
    _LINE + r"daskrun\.progress: progress: (?P<done>\d+)/(?P<total>\d+) tasks done.*; (?P<workers>\d+) workers$", re.M
)
_REATTACHED = re.compile(_LINE + r"daskrun\.\w+: re-attached to run .*?(?P<done>\d+)/(?P<total>\d+) tasks done", re.M)
_STORED = re.compile(_LINE + r"daskrun\.runner: result \(\d+ rows x \d+ columns\) stored at (?P<where>.+)$", re.M)
_PRINTED = re.compile(_LINE + r"daskrun\.runner: (no output configured; the result|could not store the result)", re.M)
_NOTHING = re.compile(_LINE + r"daskrun\.runner: the function returned None and no output is configured", re.M)
_COPIED = re.compile(
    _LINE
    + r"daskrun\.runner: the result is stored at .* a copy is kept in configmap/(?P<name>[a-z0-9][-a-z0-9.]*[a-z0-9])",
    re.M,
)
_PRINTED_TOO = re.compile(_LINE + r"daskrun\.runner: the result is stored at .* goes with the pod: it is printed", re.M)
# daskrun.scheduling's warning while the run's Dask pods cannot be placed.
_UNPLACED = re.compile(_LINE + r"daskrun\.scheduling: (?P<reason>\d+ \S+ pods? Pending.*)$", re.M)
_KEPT_BEFORE = re.compile(_LINE + r"daskrun\.runner: pod (?P<pod>\S+) of this Job kept the run's result", re.M)


@dataclass(frozen=True)
class RunStatus(RunSummary):
    """The summary (the words run.json keeps too), as far as the Job and the log say, and
    which run of which release it is."""

    namespace: str
    release: str
    revision: str
    job: str
    attempt: int  # the Job's launcher pods so far (a retry or a replaced launcher adds one)
    progress_at: str | None  # the launcher's clock when it counted the tasks (its log line's time)


def _time(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition
    return None


def newest(pods: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(pods, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]), default=None)


def _exit_code(pod: dict[str, Any] | None) -> int | None:
    for container in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        if container.get("name") == RUN_CONTAINER:
            state = container.get("state") or {}
            terminated = state.get("terminated") or (container.get("lastState") or {}).get("terminated")
            if terminated and terminated.get("exitCode") is not None:
                return int(terminated["exitCode"])
    return None


def attempts(job: dict[str, Any], pods: list[dict[str, Any]]) -> int:
    """The launcher pods the Job has had: a force-deleted pod is gone from the list but
    counted by the Job; an evicted one is still listed but not counted (podFailurePolicy)."""
    status = job.get("status") or {}
    counted = sum(int(status.get(key) or 0) for key in ("active", "failed", "succeeded"))
    return max(len(pods), counted)


def pending_reason(pod: dict[str, Any] | None) -> str:
    """Why a launcher pod is not running yet: not placed, or a container that cannot start."""
    if pod is None:
        return "no launcher pod yet"
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or status.get("initContainerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] != "ContainerCreating":
            return f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"not scheduled: {condition.get('message') or condition.get('reason', '')}"
    return ""


def _last(pattern: re.Pattern[str], log: str) -> re.Match[str] | None:
    matches = list(pattern.finditer(log))
    return matches[-1] if matches else None


def _logged_at(match: re.Match[str]) -> str:
    return match.string[match.start() : match.start() + len("2026-12-03 11:00:05,123")]


def unplaced_reason(log: str) -> str:
    """Why Dask pods wait, when the launcher said so after the last count of joined workers."""
    unplaced, joined = _last(_UNPLACED, log), _last(_JOINED, log)
    if unplaced is None or (joined is not None and joined.start() > unplaced.start()):
        return ""
    return unplaced["reason"]


def phase_word(seen: set[str]) -> str:
    """The status word of a running launcher that has marked the timeline phases `seen`."""
    word = "setting up"
    for phases, words in _PHASE_WORDS:
        if seen & phases:
            word = words
    return word


def running_phase(log: str) -> str:
    """The status word for the newest phase line of a running launcher's log."""
    return phase_word({m["phase"] for m in _PHASE.finditer(log)})


def _release(job: dict[str, Any]) -> str:
    return (job["metadata"].get("labels") or {}).get(INSTANCE_LABEL, "RELEASE")


def result_place(log: str, phase: str, exit_code: int | None, job: dict[str, Any]) -> str:
    """Where the result is, in the words of the status column."""
    recover = in_the_log(job["metadata"]["name"])
    kept_before = _last(_KEPT_BEFORE, log)
    if kept_before:
        return f"kept by pod {kept_before['pod']} (its log says where)"
    stored = _last(_STORED, log)
    if stored:
        where = stored["where"].strip()
        if where.startswith("/"):
            mount = launcher_job(job).mount_of(posixpath.normpath(where))
            if mount is None or not mount.claim:
                copied = _last(_COPIED, log)
                if copied:
                    return f"in configmap/{copied['name']} (the file went with the pod): daskrun result {_release(job)} -o FILE"
                if _PRINTED_TOO.search(log):
                    return f"in the log (the file went with the pod): daskrun result {_release(job)} -o FILE"
                return f"{where} in the launcher pod, gone with it (keep it: outputVolume.create, outputVolume.existingClaim or S3)"
        return where
    if _PRINTED.search(log) or exit_code == ExitCode.NOT_STORED:
        return recover
    if _NOTHING.search(log):
        return RETURNED_NONE
    if phase not in (SUCCEEDED, FAILED):
        return "not yet"
    if not log.strip():
        # Every pod of the Job is gone, and the log that said where with them; the kept mark
        # on the Job still says a result was kept, and the run's config where.
        if read_mark(job["metadata"].get("annotations") or {}) is not None:
            return f"kept (its log went with the pod): daskrun result {_release(job)} -o FILE fetches it"
        return (
            f"unknown (its log went with the pod): daskrun result {_release(job)} -o FILE looks where the config says"
        )
    return NO_RESULT


def status_of(job: dict[str, Any], pods: list[dict[str, Any]], log: str, now: datetime.datetime) -> RunStatus:
    """One run's status from its Job, the Job's pods and the newest pod's launcher log."""
    metadata = job["metadata"]
    labels = metadata.get("labels") or {}
    pod = newest(pods)
    exit_code = _exit_code(pod)
    reason = ""
    if _condition(job, "Complete"):
        phase, exit_code = SUCCEEDED, 0 if exit_code is None else exit_code
    elif failed := _condition(job, "Failed"):
        phase = FAILED
        reason = meaning(exit_code) or failed.get("message") or failed.get("reason", "")
    elif (job.get("spec") or {}).get("suspend"):
        phase = "suspended"
    elif pod is None or (pod.get("status") or {}).get("phase") == "Pending":
        phase, reason = "pending", pending_reason(pod)
    else:
        phase = running_phase(log)
        if phase == "waiting for workers":
            reason = unplaced_reason(log)
    if phase == SUCCEEDED:
        reason = meaning(exit_code)
    joined, progress = _last(_JOINED, log), _last(_PROGRESS, log) or _last(_REATTACHED, log)
    workers = progress["workers"] if progress and "workers" in progress.groupdict() else None
    started = _time((job.get("status") or {}).get("startTime"))
    ended = _time((job.get("status") or {}).get("completionTime"))
    if phase == FAILED:
        ended = _time((_condition(job, "Failed") or {}).get("lastTransitionTime"))
    elapsed = ((ended or now) - started).total_seconds() if started else None
    return RunStatus(
        namespace=metadata.get("namespace", ""),
        release=labels.get(INSTANCE_LABEL, "?"),
        revision=labels.get(REVISION_LABEL, "?"),
        job=metadata["name"],
        phase=phase,
        exit_code=exit_code if phase in (SUCCEEDED, FAILED) else None,
        reason=reason,
        attempt=attempts(job, pods),
        workers=int(workers) if workers is not None else (int(joined["joined"]) if joined else None),
        workers_wanted=int(joined["wanted"]) if joined else None,
        tasks_done=int(progress["done"]) if progress else None,
        tasks_total=int(progress["total"]) if progress else None,
        progress_at=_logged_at(progress) if progress else None,
        elapsed_seconds=elapsed,
        result=result_place(log, phase, exit_code, job),
    )


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _fraction(done: int | None, total: int | None) -> str:
    if total is None:
        return "-" if done is None else str(done)
    return f"{'?' if done is None else done}/{total}"


def table(statuses: list[RunStatus], with_namespace: bool = False) -> str:
    """`kubectl get`-like columns, one line per run."""
    head = ["RELEASE", "REVISION", "PHASE", "WORKERS", "TASKS", "ELAPSED", "RESULT"]
    rows = []
    for s in statuses:
        phase = s.phase
        if s.exit_code is not None and s.phase == FAILED:
            phase = f"failed (exit {s.exit_code}: {s.reason})"
        elif s.reason and s.phase in ("pending", FAILED, "waiting for workers"):
            phase = f"{s.phase} ({s.reason})"
        if s.attempt > 1:
            phase += f", attempt {s.attempt}"
        row = [
            s.release,
            s.revision,
            phase,
            _fraction(s.workers, s.workers_wanted),
            _fraction(s.tasks_done, s.tasks_total),
            duration(s.elapsed_seconds),
            s.result,
        ]
        rows.append(([s.namespace] if with_namespace else []) + row)
    head = (["NAMESPACE"] if with_namespace else []) + head
    widths = [max(len(str(cell)) for cell in column) for column in zip(head, *rows, strict=False)]
    lines = [
        "   ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [head, *rows]
    ]
    return "\n".join(lines)
