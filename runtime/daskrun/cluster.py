"""Start the run's Dask cluster (Kubernetes or local), wait for its workers, always close it.

On kr8s: dask-kubernetes' KubeCluster is built on it, so the DaskCluster objects, the pods
of the run (daskrun.scheduling) and its Secret (daskrun.run_secret) are read with the same
client (daskrun.kube is for the rest).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from daskrun import progress, reattach, run_secret, run_tls, timeline
from daskrun.config import Config, DaskCluster
from daskrun.context import RunContext
from daskrun.controller_choice import Decision, claim
from daskrun.errors import ClusterStartError, OwnershipError, Stopped
from daskrun.manifest import autoscaler_spec, build_cluster_spec, dask_resources, labels
from daskrun.run_labels import CONTROLLER_LABEL, JOB_LABEL, STARTED_ANNOTATION
from daskrun.scheduling import SchedulingWatch, pending_reasons, pod_problems, read_pod_starts

log = logging.getLogger(__name__)

RESOURCE_TIMEOUT = 120.0  # seconds for a controller to act on the DaskCluster and its scheduler
WORKER_POLL_INTERVAL = 0.25  # seconds between asking the scheduler how many workers joined
POD_CHECK_INTERVAL = 2.0  # seconds between looking for failing pods while waiting


@contextlib.contextmanager
def local_cluster(config: Config, preloads: Sequence[str] = ()) -> Iterator[Any]:
    """Workers run `preloads` as pods do; the scheduler runs in this process, which has
    run them already (twice could apply a patch twice)."""
    from distributed import LocalCluster

    dask_cluster = config.dask_cluster
    worker = dask_cluster.worker_config
    # What the pods' workers get, so the function sees the same: worker_config.env in each
    # worker's environment, and the extended resources (GPU=1) that tasks may ask for; a
    # task asking for a resource no worker offers waits forever.
    resources = dask_resources(config)
    if worker.env or resources:
        log.info(
            "local workers get worker_config.env (%s) and resources %s, as pods would",
            ", ".join(sorted(worker.env)) or "none",
            resources or "none",
        )
    cluster = LocalCluster(
        n_workers=dask_cluster.initial_workers,
        threads_per_worker=worker.threads,
        memory_limit=worker.resources.memory_bytes or "auto",
        dashboard_address=":0",
        preload=list(preloads),
        env=dict(worker.env),
        resources=resources or None,
        # The same switch as on Kubernetes: a local run's ports are open to this host's users.
        security=run_tls.issue("local").security() if config.dask_cluster.tls else None,
    )
    timeline.mark(timeline.CLUSTER_CREATED)
    try:
        if dask_cluster.adaptive:
            cluster.adapt(minimum=dask_cluster.min_workers, maximum=dask_cluster.max_workers)
        log.info("local cluster %s started, dashboard %s", cluster.name, cluster.dashboard_link)
        yield cluster
    finally:
        cluster.close()
        timeline.mark(timeline.CLUSTER_DELETED)


def _worker_resources(workers: dict[str, Any]) -> str:
    kinds = sorted(
        {", ".join(f"{k}={v:g}" for k, v in sorted((w.get("resources") or {}).items())) for w in workers.values()}
        - {""}
    )
    return f" (Dask resources per worker: {'; '.join(kinds)})" if kinds else ""


class WorkersMissing(ClusterStartError):
    """The scheduler is up but workers are not: the Job's next pod waits for them again on the
    same cluster instead of rebuilding it (the driver's watchdog deletes it if none comes)."""

    cluster_left = False


def wait_for_workers(client: Any, target: int, context: RunContext | None, timeout: float) -> None:
    """Block until `target` workers joined; fail early when their pods cannot start, and at the
    timeout with the reason the missing ones are not running."""
    deadline = time.monotonic() + timeout
    announced = -1
    next_pod_check = time.monotonic()
    told: set[tuple[str, str, int]] = set()
    while True:
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        joined = len(workers)
        progress.count(joined)
        if joined != announced:
            log.info("workers joined: %d/%d%s", joined, target, _worker_resources(workers))
            announced = joined
            if joined:
                timeline.mark(timeline.FIRST_WORKER)
        if joined >= target:
            timeline.mark(timeline.ALL_WORKERS)
            return
        # The scheduler is asked often (the timeline's resolution), the API server less so.
        if context is not None and time.monotonic() >= next_pod_check:
            next_pod_check = time.monotonic() + POD_CHECK_INTERVAL
            starts = read_pod_starts(context)
            if starts.problems:
                raise WorkersMissing("dask pods are failing:\n  " + "\n  ".join(starts.problems))
            for key, notice in starts.restarts.items():
                if key not in told:
                    told.add(key)
                    log.warning("%s", notice)
        if time.monotonic() > deadline:
            reasons = ""
            if context is not None:
                with contextlib.suppress(Exception):
                    reasons = "".join(f"\n  {pods}: {why}" for pods, why in pending_reasons(context).items())
            raise WorkersMissing(f"only {joined} of {target} workers joined within {timeout:.0f}s{reasons}")
        time.sleep(WORKER_POLL_INTERVAL)


@dataclass
class KubeRun:
    """The run's KubeCluster, and whether a launcher before this one started its function."""

    cluster: Any
    context: RunContext
    started_before: bool = False  # an earlier launcher told its driver to call the function
    security: Any = None  # the run's client certificate (daskrun.run_tls); None without TLS


def _owned_by_job(context: RunContext) -> bool:
    return bool(context.owner and context.owner.get("kind") == "Job")


@contextlib.contextmanager
def kube_cluster(config: Config, context: RunContext) -> Iterator[KubeRun]:
    """The run's DaskCluster, created or found (daskrun.reattach), deleted at the end unless
    this launcher is stopped while its Job lives on: then the Job's next pod re-attaches."""
    from dask_kubernetes.operator import KubeCluster

    context = context.with_name()
    controller = None
    spec = build_cluster_spec(config, context)
    cluster = None
    watch = SchedulingWatch(context)
    detach = False
    secret_made = False
    security = None
    try:
        _wait_for_dask_api(context)  # first: an unreachable API server fails here, in one line
        existing = _find_own_cluster(context)
        if config.dask_cluster.tls and existing is not None:
            security = run_secret.read(context).security()
        embedded_label = ((existing or {}).get("metadata", {}).get("labels") or {}).get(CONTROLLER_LABEL)
        if context.controller != "external" and (existing is None or embedded_label == context.name):
            from daskrun.embedded_controller import EmbeddedController

            # Started now, so its start-up overlaps the creation of the cluster and the claim.
            controller = EmbeddedController(context.namespace, CONTROLLER_LABEL, context.name)
            controller.start()
        if existing is not None:
            driver = f"the embedded controller ({controller.identity})" if controller else "the installed dask operator"
            log.info(
                "re-attaching to DaskCluster %s of this Job (created %s); %s drives it",
                context.name,
                existing["metadata"].get("creationTimestamp", "?"),
                driver,
            )
            if controller is not None:
                context = replace(context, controller="embedded")
        else:
            _delete_earlier_attempts(context)
            log.info(
                "creating DaskCluster %s in namespace %s (controller.mode %s)",
                context.name,
                context.namespace,
                context.controller,
            )
            if config.dask_cluster.tls:
                certs = run_tls.issue(context.name)
                run_secret.create(certs, context, labels(context))
                secret_made = True
                security = certs.security()
                log.info(
                    "TLS: certificates of this run only, valid until %s", certs.not_after.strftime("%Y-%m-%d %H:%M UTC")
                )
        if controller is not None and existing is None:
            _dask_class("DaskCluster")(spec, namespace=context.namespace).create()
            timeline.mark(timeline.CLUSTER_CREATED)
            decision = _choose_controller(context, controller)
            context = replace(context, controller=decision.resolved_mode)
            driver = f"the embedded controller ({controller.identity})"
            if decision.driver == "operator":
                driver = "the installed dask operator"
                controller.stop(timeout=0)  # a daemon thread: never wait for it here
                controller = None
            log.info("controller: %s drives the run: %s", driver, decision.reason)
            # KubeCluster, connecting to an existing DaskCluster, waits for its scheduler pod
            # without a time limit: a controller that never acts must end the run instead.
            wait_for_controller(lambda: _cluster_phase(context), driver, RESOURCE_TIMEOUT)
        elif existing is None:
            log.info("controller: the installed dask operator drives the run (controller.mode external)")
        watch.start()
        with _unstick_pending_phase(context):
            cluster = _start(KubeCluster, spec, context, security)
        _mark_start_phases(cluster)
        if secret_made:
            run_secret.adopt(
                context,
                _dask_class("DaskCluster").get(context.name, namespace=context.namespace).raw["metadata"]["uid"],
            )
        if config.dask_cluster.adaptive and existing is None:
            _create_autoscaler(context, config.dask_cluster)
        log.info(
            "cluster %s: dashboard %s (kubectl port-forward -n %s svc/%s-scheduler 8787)",
            context.name,
            cluster.dashboard_link,
            context.namespace,
            context.name,
        )
        annotations = (existing or {}).get("metadata", {}).get("annotations") or {}
        yield KubeRun(cluster, context, STARTED_ANNOTATION in annotations, security)
    except (Stopped, WorkersMissing) as exc:
        detach = _owned_by_job(context)
        exc.cluster_left = detach
        raise
    finally:
        watch.stop()  # pods going away now are no news
        if detach:
            log.warning(
                "leaving DaskCluster %s running for the Job's next pod, which re-attaches to it "
                "(deleting the Job deletes it)",
                context.name,
            )
            if cluster is not None:
                cluster.shutdown_on_close = False
                with contextlib.suppress(Exception):
                    cluster.close(timeout=5)
        else:
            if cluster is not None:
                log.info("deleting DaskCluster %s", context.name)
                with contextlib.suppress(Exception):
                    cluster.close(timeout=120)
            else:
                _delete_leftover(context)
            if config.dask_cluster.tls:  # garbage collection would too, once it gets to it
                with contextlib.suppress(Exception):
                    run_secret.delete(context)
        timeline.mark(timeline.CLUSTER_DELETED)
        if controller is not None:
            controller.stop()


GONE_TIMEOUT = 120.0  # seconds for garbage collection to remove an earlier Job's cluster


def _find_own_cluster(context: RunContext) -> dict[str, Any] | None:
    """The DaskCluster of this run's name if it is this Job's; None once there is none.
    Someone else's is refused, never touched; an earlier same-named Job's is waited out."""
    import kr8s

    deadline = time.monotonic() + GONE_TIMEOUT
    while True:
        try:
            found = _dask_class("DaskCluster").get(context.name, namespace=context.namespace).raw
        except kr8s.NotFoundError:
            found = None
        verdict, why = reattach.decide(found, context.job_uid, context.run_id)
        if verdict is reattach.Found.CREATE:
            return None
        if verdict is reattach.Found.CONNECT:
            return found
        if verdict is reattach.Found.REFUSE:
            raise OwnershipError(
                f"{why}: this launcher will not touch it; delete it (kubectl delete daskcluster -n "
                f"{context.namespace} {context.name}) if it is left over, or rename the release"
            )
        if time.monotonic() > deadline:
            raise ClusterStartError(f"{why}, and it was not gone within {GONE_TIMEOUT:.0f}s")
        log.info("%s; waiting for it to be gone", why)
        time.sleep(2)


def mark_started(context: RunContext) -> None:
    """Record on the DaskCluster that its driver was told to call the function."""
    cluster = _dask_class("DaskCluster").get(context.name, namespace=context.namespace)
    cluster.patch(
        {"metadata": {"annotations": {STARTED_ANNOTATION: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}}
    )


def _choose_controller(context: RunContext, controller: Any) -> Decision:
    """Who drives the DaskCluster just created without the embedded controller's label."""
    import kr8s

    from daskrun.embedded_controller import ControllerError

    dask_cluster = _dask_class("DaskCluster")(
        {"metadata": {"name": context.name, "namespace": context.namespace}}, namespace=context.namespace
    )

    def read() -> dict[str, Any]:
        dask_cluster.refresh()
        return dask_cluster.raw

    def label(resource_version: str) -> bool:
        # A merge patch carrying the resourceVersion is refused (409) if anyone wrote since.
        try:
            dask_cluster.patch(
                {"metadata": {"resourceVersion": resource_version, "labels": {CONTROLLER_LABEL: context.name}}}
            )
        except kr8s.ServerError as exc:
            if getattr(getattr(exc, "response", None), "status_code", None) == 409:
                return False
            raise
        return True

    try:
        return claim(context.controller, context.name, read, label, controller.ready, identity=controller.identity)
    except ControllerError as exc:
        raise ClusterStartError(str(exc)) from exc


# What KubeCluster logs (with a timestamp) right after each step of its start.
_START_STEPS = {
    "Waiting for controller to action cluster": timeline.CLUSTER_CREATED,
    "Waiting for scheduler service": timeline.SCHEDULER_RUNNING,
}


def _mark_start_phases(cluster: Any) -> None:
    for when, message in getattr(cluster, "_cluster_manager_logs", ()):
        phase = _START_STEPS.get(message)
        if phase:
            timeline.mark(phase, when.timestamp())


def wait_for_controller(read_phase: Callable[[], str | None], driver: str, timeout: float) -> None:
    """Block until the DaskCluster has a phase, i.e. its controller acted on it."""
    deadline = time.monotonic() + timeout
    while not read_phase():
        if time.monotonic() > deadline:
            raise ClusterStartError(
                f"{driver} did not act on the DaskCluster within {timeout:.0f}s "
                "(it set no status.phase); check that controller's log, or set controller.mode explicitly"
            )
        time.sleep(0.25)


def _cluster_phase(context: RunContext) -> str | None:
    cluster = _dask_class("DaskCluster").get(context.name, namespace=context.namespace)
    return (cluster.raw.get("status") or {}).get("phase")


START_ATTEMPTS = 3


@contextlib.contextmanager
def _unstick_pending_phase(context: RunContext, interval: float = 2.0) -> Iterator[None]:
    """Work around a race in the dask controller: its Service handler may set the cluster's
    phase to Running *before* the create handler's own patch sets it to Pending, leaving a
    ready cluster Pending for good (KubeCluster then times out). While the cluster starts,
    re-apply the controller's rule: a ClusterIP scheduler Service means Running."""
    import threading

    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):
                cluster = _dask_class("DaskCluster").get(context.name, namespace=context.namespace)
                if (cluster.raw.get("status") or {}).get("phase") != "Pending":
                    continue
                from kr8s.objects import Service

                service = Service.get(f"{context.name}-scheduler", namespace=context.namespace)
                if service.raw["spec"].get("type", "ClusterIP") == "ClusterIP":
                    log.warning(
                        "DaskCluster %s is Pending although its scheduler Service is ready "
                        "(a dask controller race); marking it Running",
                        context.name,
                    )
                    cluster.patch({"status": {"phase": "Running"}})

    thread = threading.Thread(target=watch, name="daskrun-phase", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def in_a_pod() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


async def scheduler_address_by_cluster_ip(
    service_name: str, namespace: str, port_name: str = "tcp-comm", **_: Any
) -> str:
    """The scheduler Service's address as its cluster IP, never its DNS name.

    dask-kubernetes resolves `<cluster>-scheduler.<namespace>` the moment the Service exists
    (`operator/networking.py`, 20 tries of 0.5 s) and, failing that, port-forwards through the
    API server, which the launcher's Role does not allow: an HTTP error then answers the Dask
    handshake (`MemoryError` reading `HTTP/1.1` as a frame length). Worse, a lookup that beats
    CoreDNS's watch of the new Service is a negative answer CoreDNS caches for the whole
    cluster (kubeadm's Corefile: `cache 30`), and the workers, resolving the same name, wait
    that out until their nanny's 30 s connect timeout ends their start. The cluster IP is in
    the Service object itself: no lookup, nothing cached, nothing forwarded.
    """
    from kr8s.asyncio.objects import Service

    service = await Service.get(service_name, namespace=namespace)
    ip = service.raw["spec"].get("clusterIP")
    [port] = [p["port"] for p in service.raw["spec"]["ports"] if p.get("name") in (port_name, service_name)]
    if not ip or ip == "None":  # headless: there is only the name
        ip = f"{service_name}.{namespace}"
    return f"tcp://{ip}:{port}"


def _route_kube_cluster(by_cluster_ip: bool, security: Any) -> None:
    """Point KubeCluster's lookups and its own comm to the scheduler at our address and TLS.

    KubeCluster has no `security` argument: it finds the scheduler through the module global
    `get_scheduler_address` and talks to it through `rpc` and `wait_for_scheduler_comm`
    without connection arguments, which a TLS scheduler refuses. These three globals of its
    module are all it uses, so they are replaced there, for this process."""
    import functools

    from dask_kubernetes.operator import networking
    from dask_kubernetes.operator.kubecluster import kubecluster
    from distributed.core import rpc

    lookup = scheduler_address_by_cluster_ip if by_cluster_ip else networking.get_scheduler_address

    async def address(service_name: str, namespace: str, port_name: str = "tcp-comm", **kwargs: Any) -> str:
        found = await lookup(service_name, namespace, port_name=port_name, **kwargs)
        if security is not None and port_name == "tcp-comm":
            found = f"{run_tls.SCHEME}://{found.split('://', 1)[-1]}"
        return str(found)

    kubecluster.get_scheduler_address = address
    if security is None:
        kubecluster.rpc = rpc
        kubecluster.wait_for_scheduler_comm = networking.wait_for_scheduler_comm
        return
    secure_rpc = functools.partial(rpc, connection_args=security.get_connection_args("client"))

    async def wait_for_comm(address: str) -> None:
        import asyncio

        from tornado.iostream import StreamClosedError

        while True:
            try:
                async with secure_rpc(address) as scheduler_comm:
                    await scheduler_comm.versions()
                return
            except (StreamClosedError, OSError):
                await asyncio.sleep(0.1)

    kubecluster.rpc = secure_rpc
    kubecluster.wait_for_scheduler_comm = wait_for_comm


def _start(kube_cluster_class: Any, spec: dict[str, Any], context: RunContext, security: Any = None) -> Any:
    """KubeCluster for `spec`; connection hiccups (a Service kube-proxy has not caught up
    with yet) are retried by reconnecting to the same DaskCluster, a timeout is not."""
    _route_kube_cluster(in_a_pod(), security)
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return unless_pods_fail(
                lambda: kube_cluster_class(
                    custom_cluster_spec=spec,
                    namespace=context.namespace,
                    shutdown_on_close=True,
                    quiet=True,
                    resource_timeout=int(RESOURCE_TIMEOUT),
                ),
                lambda: pod_problems(context),
            )
        except PodsFailing as exc:
            raise ClusterStartError(f"DaskCluster {context.name} did not start: {exc}") from None
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, TimeoutError) or attempt == START_ATTEMPTS:
                if isinstance(exc, TimeoutError) and context.controller == "external":
                    reason += (
                        " -- no dask operator acted on the DaskCluster: install the dask "
                        "operator or run with --controller embedded"
                    )
                with contextlib.suppress(Exception):
                    reason += "".join("\n  " + p for p in pod_problems(context))
                with contextlib.suppress(Exception):
                    reason += "".join(f"\n  {pods}: {why}" for pods, why in pending_reasons(context).items())
                raise ClusterStartError(f"DaskCluster {context.name} did not start: {reason}") from exc
            log.warning(
                "connecting to DaskCluster %s failed (%s); retrying (%d/%d)",
                context.name,
                reason[:300],
                attempt,
                START_ATTEMPTS - 1,
            )
            time.sleep(3)
    raise AssertionError("unreachable")


class PodsFailing(Exception):
    """A Dask pod failed in a way no restart mends (daskrun.pod_starts), e.g. its image cannot
    be pulled."""

    def __init__(self, problems: list[str]):
        super().__init__("dask pods are failing:\n  " + "\n  ".join(problems))


def unless_pods_fail(
    make: Callable[[], Any], problems: Callable[[], list[str]], interval: float = POD_CHECK_INTERVAL
) -> Any:
    """`make()` -- KubeCluster, which waits for its scheduler pod up to RESOURCE_TIMEOUT and
    cannot be interrupted -- in a thread, while this one asks `problems()` every `interval`
    seconds: a scheduler that will never start (an image pull the registry refused, a
    container that cannot be created) ends the start within seconds, with the kubelet's
    reason, not at the timeout. The abandoned thread is a daemon, so the launcher does not
    wait for it; the caller deletes the DaskCluster as after any failed start."""
    import threading

    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["cluster"] = make()
        except BaseException as exc:  # noqa: BLE001 -- handed to the caller's thread, re-raised there
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="daskrun-start", daemon=True).start()
    while not done.wait(interval):
        found: list[str] = []
        with contextlib.suppress(Exception):  # the API server's hiccup is not the pods' failure
            found = problems()
        if found:
            raise PodsFailing(found)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["cluster"]


def _create_autoscaler(context: RunContext, dask_cluster: DaskCluster) -> None:
    # Made here rather than with cluster.adapt(): adapt() sets no labels, and the embedded
    # controller only sees objects labelled with its run.
    autoscaler = _dask_class("DaskAutoscaler")(
        autoscaler_spec(context, dask_cluster.min_workers, dask_cluster.max_workers), namespace=context.namespace
    )
    autoscaler.create()
    log.info("adaptive scaling between %d and %d workers", dask_cluster.min_workers, dask_cluster.max_workers)


def _wait_for_dask_api(context: RunContext, timeout: float = 90.0) -> None:
    """Wait out an API server that is still preparing the dask resources (HTTP 429 "storage
    is (re)initializing" right after the CRDs were installed) or briefly failing (5xx)."""
    import kr8s

    deadline = time.monotonic() + timeout
    while True:
        try:
            list(_dask_class("DaskCluster").list(namespace=context.namespace))
            return
        except kr8s.ServerError as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if (status != 429 and (status is None or status < 500)) or time.monotonic() > deadline:
                raise
            log.warning("the API server is not ready for DaskClusters yet (%s); retrying", exc)
            time.sleep(2)


def _delete_earlier_attempts(context: RunContext) -> None:
    """Clusters of this Job's earlier pods (killed before they could clean up) go now."""
    if not context.job_uid:
        return
    stale = _dask_class("DaskCluster").list(namespace=context.namespace, label_selector={JOB_LABEL: context.job_uid})
    for cluster in stale:
        if cluster.name != context.name:
            log.warning("deleting DaskCluster %s left by an earlier attempt of this Job", cluster.name)
            with contextlib.suppress(Exception):
                cluster.delete()


def delete_run_cluster(context: RunContext) -> None:
    """The run's DaskCluster and TLS Secret, if any are left; nothing else of the namespace."""
    _delete_leftover(context)
    with contextlib.suppress(Exception):
        run_secret.delete(context)


def _delete_leftover(context: RunContext) -> None:
    """A DaskCluster whose start failed half-way must not outlive the run."""
    with contextlib.suppress(Exception):
        _dask_class("DaskCluster").get(context.name, namespace=context.namespace).delete()


def _dask_class(kind: str) -> Any:
    from kr8s.objects import new_class

    return new_class(kind, "kubernetes.dask.org/v1", namespaced=True)
