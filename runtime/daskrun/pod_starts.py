"""Whether a Dask pod of the run is starting, restarting after a failed start, or failing for good.

Read from the pod's API object alone. A Dask process that fails to start once -- its nanny
timed out reaching the scheduler, the container runtime refused the container, a start-up
OOM -- is retried where it happens: the pod's `restartPolicy: Always` has the kubelet start
the container again, and the run waits for it. The run gives up (exit 4) only when the same
container failed `START_RETRIES + 1` times, or in a way no restart mends: an image that cannot
be pulled, a container that cannot be created, or a setup step of ours that failed (the
bootstrap's own exit code), which would fail the same way every time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from daskrun.bootstrap import SETUP_FAILED_EXIT

START_RETRIES = 2  # restarts of one container before its failing start fails the run
LOG_LINES = 200  # the whole log of a failed Dask start: nanny, worker process and traceback

_NEVER_MENDED_BY_A_RESTART = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}


@dataclass(frozen=True)
class Verdict:
    """One container: `ok` (running, starting, or exited 0), `restarted` (running again after
    `failures` failed starts: told, never a failure), `restarting` after `failures` failed
    starts, or `failed` for good. `what` is the kubelet's word for the last failure."""

    state: Literal["ok", "restarted", "restarting", "failed"]
    failures: int = 0
    what: str = ""
    in_previous_log: bool = False  # the failure is the previous instance's log, not the current one's


def container_verdict(status: dict[str, Any]) -> Verdict:
    state = status.get("state") or {}
    waiting = state.get("waiting") or {}
    exited_now = state.get("terminated") or {}
    exited_before = (status.get("lastState") or {}).get("terminated") or {}
    restarts = int(status.get("restartCount") or 0)
    reason = waiting.get("reason")
    if reason in _NEVER_MENDED_BY_A_RESTART:
        return Verdict("failed", restarts, f"{reason} {waiting.get('message') or ''}".rstrip())
    if "running" in state:
        # Running now. A failed start the kubelet already mended (its first restart is
        # immediate, so the launcher may never see it down) is still told once.
        code = exited_before.get("exitCode")
        if restarts and code:
            return Verdict("restarted", restarts, f"{exited_before.get('reason') or 'exited'} (exit code {code})", True)
        return Verdict("ok", restarts)
    if "waiting" in state and not exited_before:
        return Verdict("ok", restarts)  # not started yet
    terminated = exited_now or exited_before
    code = terminated.get("exitCode")
    if not terminated or not code:
        return Verdict("ok", restarts)
    # Down right now: every instance so far failed, the current one included. Waiting
    # (CrashLoopBackOff) after a failure: the same count, the last one in the previous log.
    failures = restarts + 1
    detail = waiting.get("message") or terminated.get("reason") or ""
    what = f"{reason or 'exited'} {detail}".rstrip() + f" (exit code {code})"
    in_previous = not exited_now
    if code == SETUP_FAILED_EXIT or failures > START_RETRIES:
        return Verdict("failed", failures, what, in_previous)
    return Verdict("restarting", failures, what, in_previous)


@dataclass(frozen=True)
class PodStarts:
    """What the run's pods say: failures that end the start, and restarts under way (each
    keyed by pod, container and failure count, to be told once)."""

    problems: list[str]
    restarts: dict[tuple[str, str, int], str]


def read_pod(name: str, raw: dict[str, Any], logs: Callable[[str, bool], str]) -> PodStarts:
    """The containers of one pod (its API object `raw`); `logs(container, previous)` reads a log tail."""
    problems: list[str] = []
    restarts: dict[tuple[str, str, int], str] = {}
    for status in raw.get("status", {}).get("containerStatuses", []) or []:
        verdict = container_verdict(status)
        if verdict.state == "ok":
            continue
        container = status.get("name") or ""
        text = f"pod {name}: {verdict.what}" + _log_tail(logs, container, verdict.in_previous_log)
        if verdict.state == "failed":
            problems.append(text)
        elif verdict.state == "restarted":
            restarts[(name, container, verdict.failures)] = (
                f"{text}\n  failed start {verdict.failures}: the kubelet restarted it, running again"
            )
        else:
            restarts[(name, container, verdict.failures)] = (
                f"{text}\n  failed start {verdict.failures} of {START_RETRIES + 1}: the kubelet restarts it"
            )
    return PodStarts(problems, restarts)


def _log_tail(logs: Callable[[str, bool], str], container: str, in_previous: bool) -> str:
    # The kubelet may restart the container between our reads: the other instance is the fallback.
    tail = ""
    for previous in (in_previous, not in_previous):
        with contextlib.suppress(Exception):
            tail = logs(container, previous)
        if tail.strip():
            break
    return "\n    last log lines:\n    " + tail.replace("\n", "\n    ") if tail.strip() else ""
