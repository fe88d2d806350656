"""Which controller drives a run's DaskCluster: an installed dask operator or the embedded one.

Modes (daskrun.context.CONTROLLER_MODES; chart `controller.mode`, `daskrun run --controller`,
env DASKRUN_CONTROLLER):

  auto      the default: an installed dask operator when one acts on the run's DaskCluster,
            otherwise the controller embedded in the launcher;
  embedded  the embedded controller; if an operator acts on the cluster too, the run stops
            (exit 4) rather than let two controllers double its workers;
  external  an installed operator only; the launcher runs no controller.

The signal needs no rights beyond the run's own objects and costs no seconds where an
operator runs. The launcher creates its DaskCluster *without* the label its embedded
controller watches (daskrun.manifest.CONTROLLER_LABEL), so only another controller can
touch it, and one does within a fraction of a second: kopf, which the dask operator is built
on, first puts its finalizer or its handler marks (annotations under its prefix) on the
object, and every dask controller sets `status.phase`. The embedded controller keeps its
own marks apart (prefix EMBEDDED_PREFIX). Meanwhile the launcher starts its embedded
controller; once that is ready and CLAIM_GRACE has passed with no foreign marks, the
launcher claims the cluster: it adds the label with a patch conditional on the
resourceVersion it inspected, so a controller that wrote in between fails the patch and
its marks are read again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from daskrun.errors import ClusterStartError

log = logging.getLogger(__name__)

# kopf's default marks, which the dask-kubernetes operator keeps (it changes no persistence
# setting); the embedded controller writes under its own prefix instead.
KOPF_PREFIX = "kopf.zalando.org"
DIFFBASE_KEY = "last-handled-configuration"
EMBEDDED_PREFIX = "controller.daskrun.io"
# Put by Kubernetes itself while an object is being deleted: no controller's mark.
_GC_FINALIZERS = frozenset({"foregroundDeletion", "orphan"})

# How long a cluster must stay untouched before the embedded controller takes it. kopf
# reacts in ~0.1-0.3s (its batching window is 0.1s), so this leaves a busy operator ten
# times that; it overlaps the embedded controller's own start-up, so it rarely adds time.
CLAIM_GRACE = 2.0
POLL_INTERVAL = 0.1


class ControllerConflict(ClusterStartError):
    """An explicit embedded controller found another controller acting on its cluster."""

    headline = "stopped before two controllers drive one Dask cluster: "


@dataclass(frozen=True)
class Decision:
    driver: str  # "operator" or "embedded"
    reason: str

    @property
    def resolved_mode(self) -> str:
        """The explicit mode that does what this decision says."""
        return "external" if self.driver == "operator" else "embedded"


def foreign_marks(obj: Mapping[str, Any]) -> list[str]:
    """What another controller left on an unclaimed object: kopf finalizers and annotations
    not under the embedded controller's prefix, and a `status.phase` (set by any dask
    controller; the launcher itself never sets it on an unclaimed cluster)."""
    metadata = obj.get("metadata") or {}
    marks = [
        f"finalizer {f}"
        for f in metadata.get("finalizers") or []
        if f not in _GC_FINALIZERS and not f.startswith(EMBEDDED_PREFIX + "/")
    ]
    for key in sorted(metadata.get("annotations") or {}):
        prefix, _, name = key.rpartition("/")
        if prefix != EMBEDDED_PREFIX and (prefix == KOPF_PREFIX or name == DIFFBASE_KEY):
            marks.append(f"annotation {key}")
    phase = (obj.get("status") or {}).get("phase")
    if phase:
        marks.append(f"status.phase={phase}")
    return marks


def other_controller(marks: list[str]) -> str:
    """A name for whoever left `marks`, as exact as they allow."""
    if any(KOPF_PREFIX in mark for mark in marks):
        return "the dask-kubernetes operator installed in the cluster"
    return "another dask controller in the cluster"


def decide(mode: str, marks: list[str], *, name: str, waited: float, identity: str = "") -> Decision:
    """The driver of DaskCluster `name` after `waited` seconds, given another controller's marks."""
    if mode not in ("auto", "embedded"):
        raise ValueError(f"no decision to make in controller mode {mode!r}")
    if not marks:
        return Decision(
            "embedded", f"no dask operator acted on DaskCluster {name} within {waited:.1f}s (controller.mode {mode})"
        )
    other = other_controller(marks)
    seen = ", ".join(marks)
    if mode == "embedded":
        raise ControllerConflict(
            f"two controllers would drive DaskCluster {name}: this run's embedded controller"
            f"{f' ({identity})' if identity else ''} and {other}, which marked it ({seen}) "
            "and would double its workers. The cluster is deleted; set controller.mode to auto "
            "(uses the operator) or external, or remove the operator"
        )
    return Decision("operator", f"{other} acted on DaskCluster {name} within {waited:.1f}s ({seen})")


def claim(
    mode: str,
    name: str,
    read: Callable[[], Mapping[str, Any]],
    label: Callable[[str], bool],
    embedded_ready: Callable[[], bool],
    *,
    identity: str = "",
    grace: float = CLAIM_GRACE,
    poll: float = POLL_INTERVAL,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Decision:
    """Decide who drives the just-created, unlabelled DaskCluster `name`.

    read() returns the object; label(resource_version) adds the embedded controller's label
    unless the object changed since (then False); embedded_ready() says whether the
    embedded controller watches yet (raising if it failed to start).
    """
    start = clock()
    while True:
        obj = read()
        waited = clock() - start
        marks = foreign_marks(obj)
        if marks:
            return decide(mode, marks, name=name, waited=waited, identity=identity)
        if waited >= grace and embedded_ready():
            if label(obj["metadata"]["resourceVersion"]):
                return decide(mode, [], name=name, waited=waited, identity=identity)
            continue  # written in between: read the marks again
        sleep(poll)
