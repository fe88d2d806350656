"""Who owns the run's Dask cluster: the launcher pod (found via the downward API) of a Job.

The DaskCluster gets an ownerReference to the launcher *pod*, not to its Job: Kubernetes
collects a dependent only when every owner is gone, and a Job outlives a pod it retries.
So when the launcher pod is deleted -- force-killed, evicted, its node lost, or its Job
deleted by `helm upgrade`/`uninstall` -- garbage collection removes the DaskCluster and,
through it, every scheduler and worker pod, with no help from the (dead) launcher. A pod
that died but still exists (a Job retry keeps it for its log) is covered by the next
attempt, which deletes the clusters of earlier attempts of the same Job (label
daskrun.manifest.JOB_LABEL).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from daskrun import kube
from daskrun.context import RunContext
from daskrun.errors import OwnershipError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Launcher:
    owner: dict[str, Any]  # ownerReference to the launcher pod
    job_uid: str | None


def launcher_identity(pod_name: str | None, namespace: str) -> Launcher | None:
    """The launcher pod as an owner, and its Job's uid; None outside a pod."""
    if not pod_name:
        log.warning(
            "not running in a pod (no DASKRUN_POD_NAME): the Dask cluster has no owner "
            "and is only deleted when this process exits normally"
        )
        return None
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        pod = client.CoreV1Api(kube.api_client()).read_namespaced_pod(pod_name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise OwnershipError(f"DASKRUN_POD_NAME={pod_name!r}: no such pod in namespace {namespace!r}") from None
        raise OwnershipError(
            f"cannot read this launcher's pod {namespace}/{pod_name}: {kube.server_message(exc)}; "
            "the ServiceAccount needs 'get' on pods"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - no credentials, or the API server unreachable
        raise OwnershipError(f"cannot read this launcher's pod {namespace}/{pod_name}: {exc}") from exc
    owner = {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": pod.metadata.name,
        "uid": pod.metadata.uid,
        "blockOwnerDeletion": False,
        "controller": False,
    }
    job_uid = next((ref.uid for ref in pod.metadata.owner_references or [] if ref.kind == "Job"), None)
    if job_uid is None:
        log.warning("pod %s is not owned by a Job; its Dask cluster is owned by the pod alone", pod_name)
    return Launcher(owner=owner, job_uid=job_uid)


def owned_by_launcher(context: RunContext) -> RunContext:
    """`context` with this launcher pod as the owner of its Dask cluster (when in a pod)."""
    if context.owner:
        return context
    launcher = launcher_identity(context.pod_name, context.namespace)
    if launcher is None:
        return context
    return replace(context, owner=launcher.owner, job_uid=launcher.job_uid)
