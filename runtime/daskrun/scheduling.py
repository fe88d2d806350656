"""Why the run's Dask pods are not running yet: the scheduler's own words, in the run's log.

A worker that cannot be placed (too little CPU, an untolerated taint, no GPU node) stays
Pending; Kubernetes says why in the pod's PodScheduled condition. The watch logs that reason
within seconds and again while it lasts, so a run never waits in silence. A pod that was
placed but whose containers fail to start is judged by daskrun.pod_starts; the run's pods
are read for it here.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from daskrun.context import RunContext
from daskrun.manifest import RUN_LABEL
from daskrun.pod_starts import LOG_LINES, PodStarts, read_pod
from daskrun.run_labels import COMPONENT_LABEL

log = logging.getLogger(__name__)

POLL_SECONDS = 3.0
REPEAT_SECONDS = 30.0


def unschedulable(pod: dict[str, Any]) -> str | None:
    """The scheduler's message for a pod it could not place, else None."""
    status = pod.get("status") or {}
    if status.get("phase") != "Pending":
        return None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return condition.get("message") or condition.get("reason") or "not scheduled"
    return None


def summarize(pods: list[dict[str, Any]]) -> dict[str, str]:
    """One line per distinct reason: '<n> <role> pod(s)' -> the scheduler's message."""
    by_reason: dict[tuple[str, str], int] = {}
    for pod in pods:
        reason = unschedulable(pod)
        if reason:
            labels = (pod.get("metadata") or {}).get("labels") or {}
            role = labels.get("dask.org/component") or labels.get(COMPONENT_LABEL) or "dask"
            by_reason[(role, reason)] = by_reason.get((role, reason), 0) + 1
    return {
        f"{count} {role} pod{'s' if count > 1 else ''} Pending": reason
        for (role, reason), count in sorted(by_reason.items())
    }


def pending_reasons(context: RunContext) -> dict[str, str]:
    import kr8s

    pods = kr8s.get("pods", namespace=context.namespace, label_selector={RUN_LABEL: context.name})
    return summarize([pod.raw for pod in pods])


def read_pod_starts(context: RunContext) -> PodStarts:
    """How the scheduler and worker pods of this run are starting, failures with their logs."""
    import kr8s

    pods = kr8s.get("pods", namespace=context.namespace, label_selector={RUN_LABEL: context.name})
    problems: list[str] = []
    restarts: dict[tuple[str, str, int], str] = {}
    for pod in pods:

        def logs(container: str, previous: bool, pod: Any = pod) -> str:
            return "\n".join(pod.logs(container=container, tail_lines=LOG_LINES, previous=previous))

        found = read_pod(pod.name, pod.raw, logs)
        problems += found.problems
        restarts.update(found.restarts)
    return PodStarts(problems, restarts)


def pod_problems(context: RunContext) -> list[str]:
    """The run's pods that failed to start in a way no restart mends, one line each."""
    return read_pod_starts(context).problems


class SchedulingWatch:
    """Logs the run's unschedulable pods: at once when a reason appears or changes, then every
    `repeat` seconds while it persists. `current` holds the latest reasons for error messages."""

    def __init__(self, context: RunContext, poll: float = POLL_SECONDS, repeat: float = REPEAT_SECONDS):
        self.context = context
        self.poll = poll
        self.repeat = repeat
        self.current: dict[str, str] = {}
        self._logged: dict[tuple[str, str], float] = {}
        self._since: dict[tuple[str, str], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="daskrun-scheduling", daemon=True)

    def check(self) -> None:
        try:
            reasons = pending_reasons(self.context)
        except Exception as exc:  # noqa: BLE001 - best effort: the API server may be briefly away
            log.debug("pod states unavailable: %s", exc)
            return
        self.current = reasons
        now = time.monotonic()
        keys = set(reasons.items())
        for key in list(self._logged):
            if key not in keys:
                del self._logged[key], self._since[key]
        for key in sorted(keys):
            self._since.setdefault(key, now)
            last = self._logged.get(key)
            if last is None or now - last >= self.repeat:
                waited = now - self._since[key]
                log.warning("%s%s: %s", key[0], f" for {waited:.0f}s" if waited >= 1 else "", key[1])
                self._logged[key] = now

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            self.check()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
