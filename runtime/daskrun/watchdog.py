"""The driver's guard against a Dask cluster outliving its run.

The DaskCluster is owned by the Job, so it outlives every launcher pod, and a Job that
*fails for good* (its retries spent, every launcher OOM-killed, say) or is suspended (Kueue
preempting it) still exists: garbage collection would leave the scheduler and workers
running. No launcher is alive to delete them, so the driver watches its Job and deletes its
own DaskCluster then; garbage collection takes the pods, this one included.

Its rights are the chart's Role for the Dask pods' ServiceAccount: `get` on this run's Job
and `delete` on this run's DaskCluster, each by name (resourceNames). The token is mounted
into the driver container only, never the scheduler's or a worker's.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

log = logging.getLogger(__name__)

ENV_JOB = "DASKRUN_DRIVER_JOB"
ENV_CLUSTER = "DASKRUN_DRIVER_CLUSTER"
ENV_NAMESPACE = "DASKRUN_DRIVER_NAMESPACE"
INTERVAL = 10.0  # seconds between reads of the Job


def run_over(job: dict[str, Any]) -> str | None:
    """Why the Job will start no launcher again, or None while it may."""
    spec = job.get("spec") or {}
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Failed", "Complete"):
            return f"Job {job['metadata']['name']} is {condition['type']} ({condition.get('reason', 'no reason')})"
    if spec.get("suspend"):
        return f"Job {job['metadata']['name']} was suspended"
    return None


class Watchdog:
    def __init__(self, job: str, cluster: str, namespace: str, interval: float = INTERVAL):
        self.job, self.cluster, self.namespace, self.interval = job, cluster, namespace, interval
        self._stop = threading.Event()

    @classmethod
    def from_env(cls) -> Watchdog | None:
        job, cluster, namespace = (os.environ.get(name) for name in (ENV_JOB, ENV_CLUSTER, ENV_NAMESPACE))
        if not (job and cluster and namespace):
            return None  # a cluster no Job owns: its launcher deletes it
        return cls(job, cluster, namespace)

    def start(self) -> None:
        threading.Thread(target=self._loop, name="daskrun-watchdog", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        from daskrun import kube

        api = kube.api_client()
        jobs, objects = client.BatchV1Api(api), client.CustomObjectsApi(api)
        while not self._stop.wait(self.interval):
            try:
                job = api.sanitize_for_serialization(jobs.read_namespaced_job(self.job, self.namespace))
            except ApiException as exc:
                if exc.status == 404:  # deleted: garbage collection removes the cluster
                    continue
                log.warning("watchdog: cannot read Job %s (%s); it stops watching", self.job, kube.server_message(exc))
                return
            except Exception as exc:  # noqa: BLE001 - the API server briefly unreachable: try again
                log.info("watchdog: cannot read Job %s (%s)", self.job, exc)
                continue
            why = run_over(job)
            if why is None:
                continue
            log.warning("%s: deleting DaskCluster %s, so no Dask pod outlives the run", why, self.cluster)
            try:
                objects.delete_namespaced_custom_object(
                    "kubernetes.dask.org", "v1", self.namespace, "daskclusters", self.cluster
                )
            except ApiException as exc:
                log.warning("watchdog: cannot delete DaskCluster %s: %s", self.cluster, kube.server_message(exc))
            return
