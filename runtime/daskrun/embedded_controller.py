"""The dask-kubernetes operator's controller, run inside the launcher for the run's lifetime.

For clusters that have the dask CRDs but no operator. The controller's kopf handlers are
copied into a private registry with an extra label filter, so this controller only acts on
objects labelled with its own run: two runs in one namespace never fight over clusters.
The copies put no finalizers on objects: nothing may depend on this controller outliving
its launcher. Its kopf marks live under its own prefix (controller_choice.EMBEDDED_PREFIX),
so an installed dask operator's marks tell the launcher that someone else acts on a cluster.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time

from daskrun.controller_choice import DIFFBASE_KEY, EMBEDDED_PREFIX

log = logging.getLogger(__name__)

_SUBREGISTRIES = ("_activities", "_indexing", "_watching", "_spawning", "_changing", "_webhooks")


class ControllerError(RuntimeError):
    pass


def scoped_registry(label: str, value: str):
    """A copy of the dask controller's kopf registry whose resource handlers need label=value."""
    # Importing the module registers its handlers in kopf's default registry.
    import dask_kubernetes.operator.controller.controller  # noqa: F401
    import kopf
    from kopf._core.intents import handlers

    _keep_own_marks_off_children()
    source = kopf.get_default_registry()
    target = kopf.OperatorRegistry()
    for name in _SUBREGISTRIES:
        for handler in getattr(source, name).get_all_handlers():
            if isinstance(handler, handlers.ResourceHandler):
                handler = dataclasses.replace(handler, labels={**(handler.labels or {}), label: value})
            if getattr(handler, "requires_finalizer", None):
                # kopf puts a finalizer on objects with timers (the cluster's autoshutdown, the
                # autoscaler). This controller dies with its launcher, maybe by SIGKILL, and a
                # finalizer nobody removes would block the garbage collection of the cluster.
                handler = dataclasses.replace(handler, requires_finalizer=False)
            getattr(target, name).append(handler)
    return target


def _keep_own_marks_off_children() -> None:
    """The dask controller copies a DaskCluster's annotations onto the objects it creates,
    except kopf's own. Ours on a child would read as that child's handling state (kopf would
    take a new worker group for one already handled), so they are left out the same way."""
    from dask_kubernetes.operator.controller import controller

    ignored = controller._ANNOTATION_NAMESPACES_TO_IGNORE
    if EMBEDDED_PREFIX not in ignored:
        controller._ANNOTATION_NAMESPACES_TO_IGNORE = (*ignored, EMBEDDED_PREFIX)


def settings():
    """kopf settings of the embedded controller: its own marks, no rescans of the API."""
    import kopf

    result = kopf.OperatorSettings()
    # Discover the dask resources once; rescanning would need cluster-wide rights on
    # CRDs and namespaces, which a namespaced run does not get.
    result.scanning.disabled = True
    result.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=EMBEDDED_PREFIX)
    result.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=EMBEDDED_PREFIX, key=DIFFBASE_KEY)
    result.persistence.finalizer = f"{EMBEDDED_PREFIX}/finalizer"
    return result


class _NameObjects(logging.Filter):
    """Prefix kopf's per-object messages with [namespace/name], whatever the log format."""

    def filter(self, record: logging.LogRecord) -> bool:
        ref = getattr(record, "k8s_ref", None) or {}
        if ref.get("name") and not getattr(record, "_daskrun_named", False):
            record.msg = f"[{ref.get('namespace', '')}/{ref['name']}] {record.msg}"
            record._daskrun_named = True
        return True


class _QuietTimers(logging.Filter):
    """Drop the dask controller's timers' success lines (one per cluster and autoscaler every
    5 seconds); their warnings and errors pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not (
            record.levelno < logging.WARNING and message.startswith("Timer ") and message.endswith(" succeeded.")
        )


class EmbeddedController:
    """Runs kopf with the scoped registry in a thread; `start` returns at once, `ready` says
    whether it watches yet (`wait_ready` blocks until it does)."""

    def __init__(self, namespace: str, label: str, value: str, ready_timeout: float = 60):
        self.namespace = namespace
        self.registry = scoped_registry(label, value)
        self.scope = value
        self.identity = f"daskrun-{value}"
        self.ready_timeout = ready_timeout
        self._deadline = 0.0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="daskrun-controller", daemon=True)

    def _main(self) -> None:
        import kopf

        try:
            asyncio.run(
                kopf.operator(
                    settings=settings(),
                    registry=self.registry,
                    namespaces=[self.namespace],
                    clusterwide=False,
                    standalone=True,  # no peering: the label scope already keeps runs apart
                    # Given, so kopf never asks getpwuid() for a uid (arbitrary uids have none).
                    identity=self.identity,  # type: ignore[arg-type]  # kopf's NewType of str
                    stop_flag=self._stop,
                    ready_flag=self._ready,
                )
            )
        except BaseException as exc:  # reported by start()/stop(), the thread must not die silently
            self._error = exc
            log.exception("embedded dask controller stopped with an error")

    def start(self) -> None:
        # Per-object handler results, prefixed with [namespace/name]: shows what this controller
        # acted on. INFO with -v only, as all of kopf's (daskrun.log_levels); failures always.
        objects = logging.getLogger("kopf.objects")
        if not any(isinstance(f, _QuietTimers) for f in objects.filters):
            objects.addFilter(_QuietTimers())
        if not any(isinstance(f, _NameObjects) for f in objects.filters):
            objects.addFilter(_NameObjects())
        self._deadline = time.monotonic() + self.ready_timeout
        self._thread.start()

    def ready(self) -> bool:
        """True once it watches; raises ControllerError if it failed or ran out of time."""
        if self._error or (not self._ready.is_set() and time.monotonic() > self._deadline):
            self.stop()
            raise ControllerError(
                f"the embedded dask controller did not start in {self.ready_timeout:.0f}s"
                + (f": {self._error}" if self._error else "")
            )
        return self._ready.is_set()

    def wait_ready(self) -> None:
        self._ready.wait(max(0.0, self._deadline - time.monotonic()))
        if self.ready():
            log.info("embedded dask controller watching namespace %s", self.namespace)

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._thread.join(timeout)
