"""Who owns the run's Dask cluster: the launcher's Job, found through its pod (downward API).

The DaskCluster gets an ownerReference to the *Job*, so it outlives a launcher pod that is
evicted, preempted, force-deleted or lost with its node: the Job's next pod finds the same
cluster by name (derived from the Job's, `job_cluster_name`) and re-attaches to the function
running in its driver (daskrun.reattach). It does not outlive the Job: when `helm upgrade` or
`helm uninstall` deletes the Job, or `ttlSecondsAfterFinished` does, garbage collection
removes the DaskCluster and, through it, every scheduler and worker pod, with no help from a
launcher. Reading the pod's own ownerReferences needs no right beyond `get` on pods.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from typing import Any

from daskrun import kube
from daskrun.context import MAX_NAME, RunContext
from daskrun.errors import OwnershipError
from daskrun.job_logs import RUN_CONTAINER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Launcher:
    owner: dict[str, Any] | None  # ownerReference to the launcher's Job
    job_uid: str | None
    job_name: str | None
    lasting_mounts: tuple[str, ...] = ()  # where the launcher container's files outlive the pod


def lasting_mounts(pod_spec: Any) -> tuple[str, ...]:
    """The launcher container's mount paths whose volumes outlive the pod: a claim, a node's
    directory, NFS. Anything else (the container's own filesystem, emptyDir, a CSI or generic
    ephemeral volume) goes with the pod, or may: a result written there is printed too."""
    volumes = {v.name: v for v in getattr(pod_spec, "volumes", None) or []}
    container = next((c for c in getattr(pod_spec, "containers", None) or [] if c.name == RUN_CONTAINER), None)
    found = []
    for mount in getattr(container, "volume_mounts", None) or []:
        volume = volumes.get(mount.name)
        if volume is not None and (volume.persistent_volume_claim or volume.host_path or volume.nfs):
            found.append(mount.mount_path)
    return tuple(found)


def job_cluster_name(job_name: str) -> str:
    """The DaskCluster's name for a Job: the Job's own when short enough, else cut with a hash."""
    if len(job_name) <= MAX_NAME:
        return job_name
    digest = hashlib.sha256(job_name.encode()).hexdigest()[:6]
    return f"{job_name[: MAX_NAME - 7].rstrip('-')}-{digest}"


def launcher_identity(pod_name: str | None, namespace: str) -> Launcher | None:
    """The launcher's Job as an owner; None outside a pod."""
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
    job = next((ref for ref in pod.metadata.owner_references or [] if ref.kind == "Job"), None)
    if job is None:
        log.warning(
            "pod %s is not owned by a Job: its Dask cluster has no owner and is deleted when this process ends",
            pod_name,
        )
        return None
    owner = {
        "apiVersion": job.api_version,
        "kind": "Job",
        "name": job.name,
        "uid": job.uid,
        "blockOwnerDeletion": False,
        "controller": False,
    }
    return Launcher(owner=owner, job_uid=job.uid, job_name=job.name, lasting_mounts=lasting_mounts(pod.spec))


def owned_by_launcher(context: RunContext) -> RunContext:
    """`context` with this launcher's Job as the owner of its Dask cluster (when in a Job)."""
    if context.owner:
        return context
    launcher = launcher_identity(context.pod_name, context.namespace)
    if launcher is None or launcher.job_name is None:
        return context
    return replace(
        context,
        owner=launcher.owner,
        job_uid=launcher.job_uid,
        name=job_cluster_name(launcher.job_name),
        lasting_mounts=launcher.lasting_mounts,
    )
