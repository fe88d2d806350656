"""`daskrun logs RELEASE [-n NS] [--revision N] [--all-attempts] [-f]`: the launcher's log of a
release's run, across the Job's attempts.

`kubectl logs job/NAME` picks one pod of the Job, not necessarily the newest; a run retried
after exit 4 or re-attached after a lost launcher has one pod per attempt. Here every attempt
is marked (`==> attempt 2 of 3: pod NAME <==`, as `tail` marks files), and `-f` follows the
run, not a pod: when the attempt it follows ends while the Job goes on, it waits for the next
pod and follows that one. Ctrl-C stops the reading only; the run goes on.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from daskrun import kube
from daskrun.errors import DaskrunError
from daskrun.job_logs import RUN_CONTAINER, Attempt, JobLogError, attempts, log_pieces
from daskrun.result_fetch import job_selector, list_release_jobs, pick_run
from daskrun.result_source import RUNNING, SUSPENDED, launcher_job

POLL = 2.0  # seconds between looks at the Job while waiting for its next pod


def header(attempt: Attempt) -> bytes:
    return f"==> attempt {attempt.number} of {attempt.of}: pod {attempt.pod} <==\n".encode()


def run_attempts(namespace: str, release: str, revision: int | None) -> tuple[str, list[Attempt]]:
    """The Job of the release's newest run (or of `revision`) and its attempts, newest first."""
    job = pick_run(list_release_jobs(namespace, job_selector(release, revision)), release, namespace, revision)
    return job.name, attempts(namespace, job.name)


def write_logs(namespace: str, chosen: list[Attempt], marked: bool, out: BinaryIO) -> None:
    for attempt in chosen:
        if marked:
            out.write(header(attempt))
        for piece in log_pieces(namespace, attempt.pod):
            out.write(piece)
        out.flush()


def _followed(namespace: str, pod: str) -> Iterator[bytes]:
    """The pod's log as it is written, until the container ends; nothing while it has not started."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(kube.api_client())
    try:
        response: Any = core.read_namespaced_pod_log(
            pod, namespace, container=RUN_CONTAINER, follow=True, _preload_content=False
        )
    except ApiException as exc:
        if exc.status == 400:  # the container is waiting to start: no log yet
            return
        raise JobLogError(f"cannot read the log of pod {pod}: {kube.server_message(exc)}") from exc
    try:
        yield from response.stream(1 << 14)
    finally:
        response.release_conn()


def _job_state(namespace: str, job: str) -> str:
    from kubernetes import client

    api = kube.api_client()
    found = client.BatchV1Api(api).read_namespaced_job(job, namespace)
    return launcher_job(api.sanitize_for_serialization(found)).state


def _still_running(namespace: str, pod: str) -> bool:
    from kubernetes import client

    try:
        found = client.CoreV1Api(kube.api_client()).read_namespaced_pod(pod, namespace)
    except Exception:  # noqa: BLE001 - gone (force-deleted): not running
        return False
    return (getattr(found.status, "phase", None) or "") in ("Pending", "Running")


def follow(
    namespace: str,
    job: str,
    seen: list[Attempt],
    out: BinaryIO,
    state: Callable[[str, str], str] = _job_state,
    pods: Callable[[str, str], list[Attempt]] = attempts,
    followed: Callable[[str, str], Iterator[bytes]] = _followed,
    running: Callable[[str, str], bool] = _still_running,
) -> str:
    """Follow the newest attempt, then each next one, until the Job has ended; its end state."""
    current = seen[0] if seen else None
    printed = {a.pod for a in seen}
    written = 0  # of the current pod's log: a stream cut while the pod runs is read again from its start
    while True:
        if current is not None:
            skip = written
            for chunk in followed(namespace, current.pod):
                chunk, skip = chunk[skip:], max(skip - len(chunk), 0)
                if chunk:
                    out.write(chunk)
                    out.flush()
                    written += len(chunk)
        ended = state(namespace, job)
        if ended not in (RUNNING, SUSPENDED):
            return ended
        newer = [a for a in pods(namespace, job) if a.pod not in printed]
        if not newer:
            if current is not None and not running(namespace, current.pod):
                current = None  # ended; the Job has not started the next pod yet
            time.sleep(POLL)
            continue
        current, written = newer[0], 0  # newest first
        printed.add(current.pod)
        out.write(header(current))


def cli_logs(release: str, namespace: str, revision: int | None, all_attempts: bool, keep_following: bool) -> int:
    out = sys.stdout.buffer
    try:
        job, found = run_attempts(namespace, release, revision)
        marked = len(found) > 1
        if keep_following:
            if all_attempts:
                write_logs(namespace, found[:0:-1], marked, out)  # every earlier attempt, oldest first
            if marked:
                out.write(header(found[0]))
            ended = follow(namespace, job, found, out)
            print(f"daskrun logs: job/{job} has {ended}", file=sys.stderr)
        else:
            write_logs(namespace, found[::-1] if all_attempts else found[:1], marked, out)
    except KeyboardInterrupt:
        print("\ndaskrun logs: stopped reading; the run goes on", file=sys.stderr)
        return 130
    except JobLogError as exc:
        print(f"daskrun logs: {exc}", file=sys.stderr)
        return 1
    except DaskrunError as exc:
        print(f"daskrun logs: {exc}", file=sys.stderr)
        return exc.exit_code
    out.flush()
    return 0
