"""Who owns the run's Dask cluster: the Job of the launcher pod, found via the downward API.

With that ownerReference, Kubernetes garbage-collects the DaskCluster (and through it every
scheduler and worker pod) when the Job goes, even if the launcher was SIGKILLed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class OwnershipError(RuntimeError):
    pass


def current_namespace() -> str:
    """The pod's namespace in a cluster, else the kubeconfig context's, else 'default'."""
    if _SA_NAMESPACE.exists():
        return _SA_NAMESPACE.read_text().strip()
    try:
        from kubernetes import config

        _, active = config.list_kube_config_contexts()
        return active.get("context", {}).get("namespace") or "default"
    except Exception:
        return "default"


def owner_reference(pod_name: str | None, namespace: str) -> dict[str, Any] | None:
    """An ownerReference to the Job that owns `pod_name`, or None outside a Job's pod."""
    if not pod_name:
        log.warning("not running in a pod (no DASKRUN_POD_NAME): the Dask cluster has no owner "
                    "and is only deleted when this process exits normally")
        return None
    import kr8s
    from kr8s.objects import Pod

    try:
        pod = Pod.get(pod_name, namespace=namespace)
    except kr8s.NotFoundError:
        raise OwnershipError(f"DASKRUN_POD_NAME={pod_name!r}: no such pod in namespace {namespace!r}") from None
    except Exception as exc:
        raise OwnershipError(
            f"cannot read this launcher's pod {namespace}/{pod_name} to find its Job: {exc}; "
            "the ServiceAccount needs 'get' on pods"
        ) from exc
    for ref in pod.metadata.get("ownerReferences", []) or []:
        if ref.get("kind") == "Job":
            return {"apiVersion": ref["apiVersion"], "kind": "Job", "name": ref["name"],
                    "uid": ref["uid"], "blockOwnerDeletion": False, "controller": False}
    log.warning("pod %s is not owned by a Job: the Dask cluster has no owner", pod_name)
    return None
