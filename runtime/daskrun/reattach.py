"""What a launcher does with the DaskCluster it finds under its run's name: pure decisions.

The name comes from the Job (daskrun.ownership), so every pod of one Job finds the same
cluster. Two questions, answered before and after connecting to its scheduler.
"""

from __future__ import annotations

import enum
from typing import Any

from daskrun import driver_files as files
from daskrun.run_labels import JOB_LABEL, REVISION_LABEL


class Found(enum.Enum):
    CREATE = "create"  # nothing there: today's path
    CONNECT = "connect"  # ours: connect to it and ask its driver
    WAIT_GONE = "wait"  # an earlier Job of the same name, being collected
    REFUSE = "refuse"  # someone else's: never touch it


def decide(cluster: dict[str, Any] | None, job_uid: str | None, revision: str | None) -> tuple[Found, str]:
    """What to do with `cluster` (the DaskCluster object or None), and why, for the log."""
    if cluster is None:
        return Found.CREATE, "no DaskCluster of this run yet"
    metadata = cluster.get("metadata") or {}
    labels = metadata.get("labels") or {}
    name = metadata.get("name", "?")
    theirs = labels.get(JOB_LABEL)
    if metadata.get("deletionTimestamp"):
        return Found.WAIT_GONE, f"DaskCluster {name} is being deleted"
    if job_uid is None or theirs != job_uid:
        if not theirs:
            return Found.REFUSE, f"DaskCluster {name} exists and belongs to no Job (label {JOB_LABEL} missing)"
        owners = {ref.get("uid") for ref in metadata.get("ownerReferences") or []}
        if theirs in owners:
            # Its Job of the same name was deleted; garbage collection will remove it.
            return Found.WAIT_GONE, f"DaskCluster {name} belongs to an earlier Job {theirs} of the same name"
        return Found.REFUSE, f"DaskCluster {name} belongs to Job {theirs}, this launcher's Job is {job_uid}"
    if revision is not None and labels.get(REVISION_LABEL, revision) != revision:
        return Found.REFUSE, (
            f"DaskCluster {name} is revision {labels.get(REVISION_LABEL)}'s, this launcher runs revision {revision}"
        )
    return Found.CONNECT, f"DaskCluster {name} of this Job exists"


class Step(enum.Enum):
    START = "start"  # the driver waits for go
    FOLLOW = "follow"  # the function runs: attach to it
    COLLECT = "collect"  # the outcome is there: store it
    REPLACE = "replace"  # the driver's state is gone with its scheduler pod


def next_step(record: dict[str, Any] | None, started_before: bool) -> Step:
    """What to do given the driver's status and whether a launcher already said go."""
    state = (record or {}).get("state")
    if state in files.FINAL:
        return Step.COLLECT
    if state == files.RUNNING:
        return Step.FOLLOW
    # Waiting (or not written yet): a fresh driver. If go was said before, the scheduler
    # pod it ran in was replaced and the function's futures are gone with it.
    return Step.REPLACE if started_before else Step.START
