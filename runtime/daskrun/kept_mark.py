"""A mark on the launcher's Job that one of its pods has kept the result.

The Dask cluster holds the result only until its launcher deletes it. A launcher killed after
that, before it exits 0 (force-deleted, its node lost, SIGKILL during the report), leaves a
Job that starts another pod, which would find no cluster and run the function again: hours
of work, and a second result over the first. The mark lives on the Job, which outlives every
pod of it and is gone with the revision; the launcher's Role may get and patch that one Job
only. Writing it is best effort: without it a replaced launcher reruns, as before.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from daskrun import kube
from daskrun.context import RunContext
from daskrun.run_labels import KEPT_ANNOTATION

log = logging.getLogger(__name__)


def job_name(context: RunContext) -> str | None:
    owner = context.owner or {}
    return owner.get("name") if owner.get("kind") == "Job" else None


def mark_value(pod_name: str | None, now: float | None = None) -> str:
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
    return json.dumps({"pod": pod_name or "?", "at": at}, sort_keys=True)


def read_mark(annotations: dict[str, str] | None) -> dict[str, str] | None:
    """The mark among a Job's annotations; None when absent. A value that is not ours (edited
    by hand, say) still counts as kept: running the function twice is the costlier mistake."""
    raw = (annotations or {}).get(KEPT_ANNOTATION)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return {"pod": "?", "at": "?", "value": raw}
    return {"pod": str(value.get("pod", "?")), "at": str(value.get("at", "?"))}


def _batch() -> Any:
    from kubernetes import client

    return client.BatchV1Api(kube.api_client())


def mark(context: RunContext) -> None:
    """Mark the Job: its result is kept. A failure is logged, never raised: the result is kept."""
    name = job_name(context)
    if name is None:
        return
    body = {"metadata": {"annotations": {KEPT_ANNOTATION: mark_value(context.pod_name)}}}
    try:
        _batch().patch_namespaced_job(name, context.namespace, body)
    except Exception as exc:  # noqa: BLE001 - an old chart's Role without patch, the API server gone
        log.warning(
            "could not mark Job %s as kept (%s): a pod replacing this one before it exits would run the function again",
            name,
            kube.server_message(exc),
        )
        return
    log.info("Job %s marked: its result is kept (%s)", name, KEPT_ANNOTATION)


def earlier(context: RunContext) -> dict[str, str] | None:
    """The mark an earlier pod of this launcher's Job left; None when there is none or it
    cannot be read (then the run goes on as if there were none)."""
    name = job_name(context)
    if name is None:
        return None
    try:
        job = _batch().read_namespaced_job(name, context.namespace)
    except Exception as exc:  # noqa: BLE001
        log.warning(
            "could not read Job %s to see whether its result is already kept: %s", name, kube.server_message(exc)
        )
        return None
    return read_mark(job.metadata.annotations)
