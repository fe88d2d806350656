"""The version check on a live cluster: once before the function starts, and on the scheduler
for every worker that joins afterwards (adaptive scaling, `wait_for_workers.minimum` below
the workers asked for, a restarted worker pod).

The scheduler imports this module by name when the launcher registers `VersionGuard`: the
scheduler runs the launcher's image (daskrun.context's image), so it is there.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from distributed.core import Status
from distributed.diagnostics.plugin import SchedulerPlugin

from daskrun import version_check

log = logging.getLogger(__name__)

TOPIC = "daskrun-version-refused"  # the scheduler's events the launcher relays to its log
SUBSCRIBE_TIMEOUT = 30.0


def read(client: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """`get_versions()` of the cluster, and each worker's name by its address (for the message:
    a Kubernetes worker's name is its Deployment, what `kubectl get pods` starts with)."""
    versions = client.get_versions(check=False)
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return versions, {address: info.get("name") for address, info in workers.items()}


def guard(client: Any, versions: dict[str, Any], names: dict[str, Any]) -> None:
    """Fail (VersionMismatch) when the processes differ now; then let the scheduler refuse any
    worker that joins with other versions, and tell this launcher's log when it does."""
    version_check.check(versions, names)
    relay_refusals(client)  # first: a worker refused while the plugin starts is told too
    client.register_plugin(VersionGuard(versions.get("client") or {}))


def relay_refusals(client: Any) -> None:
    """The scheduler's refusals, as errors in this process's log (the user reads the launcher's,
    seldom the scheduler's); a launcher that re-attaches to a running cluster calls it too."""
    client.subscribe_topic(TOPIC, _tell)
    # The subscription travels on the client's batched stream, which can reach the scheduler
    # after a later call (the plugin's registration, whose start refuses the workers already
    # there): a refusal published before it lands goes to nobody. So wait until it has landed.
    deadline = time.monotonic() + SUBSCRIBE_TIMEOUT
    while not client.run_on_scheduler(_subscribed, client.id):
        if time.monotonic() > deadline:
            log.warning("the scheduler did not confirm the subscription to %s within %ss", TOPIC, SUBSCRIBE_TIMEOUT)
            return
        time.sleep(0.02)


def _subscribed(client_id: str, dask_scheduler: Any = None) -> bool:
    """On the scheduler: whether `client_id` is subscribed to the refusals."""
    return client_id in dask_scheduler._broker._topics[TOPIC].subscribers


def _tell(event: tuple[float, Any]) -> None:
    _, message = event
    log.error("%s", message.get("message") if isinstance(message, dict) else message)


class VersionGuard(SchedulerPlugin):
    """On the scheduler: a worker whose MUST_MATCH versions differ from the launcher's is
    paused at once (no task is given to a paused worker), told on TOPIC, and closed."""

    name = "daskrun-version-guard"
    idempotent = False  # a later launcher's registration replaces the earlier one

    def __init__(self, reference: dict[str, Any]):
        self.reference = reference  # the launcher's `get_versions()` entry

    async def start(self, scheduler: Any) -> None:
        # Workers that joined between the launcher's check and this registration.
        for address in list(scheduler.workers):
            self.add_worker(scheduler, address)

    def add_worker(self, scheduler: Any, worker: str) -> None:
        # Synchronous on purpose: the scheduler calls it inside `add_worker` before it gives the
        # new worker any task, with no await in between, so pausing here comes first.
        state = scheduler.workers.get(worker)
        if state is None:
            return
        why = version_check.refusal(self.reference, worker, state.name, state.versions)
        if why is None:
            return
        log.error("%s", why)
        scheduler.handle_worker_status_change(Status.paused, state, stimulus_id=f"daskrun-version-{time.time()}")
        scheduler.log_event(TOPIC, {"worker": worker, "message": why})
        scheduler.close_worker(worker)
