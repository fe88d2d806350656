"""The Secret that keeps a run's certificates (daskrun.run_tls) while its Dask cluster lives.

It is created before the DaskCluster, so no Dask pod waits for a volume, owned by the Job
(or nobody, outside a pod) until the cluster exists, then owned by the DaskCluster: garbage
collection removes it with the cluster, whoever deletes that. A launcher that re-attaches to
its Job's cluster reads the client certificate back from it. Its rights are the chart's Role:
`create` on secrets, `get`/`patch`/`delete` on this one name only.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from daskrun.context import RunContext
from daskrun.errors import ClusterStartError
from daskrun.run_tls import RunCertificates, secret_manifest, secret_name

log = logging.getLogger(__name__)


def _secret_class() -> Any:
    from kr8s.objects import Secret

    return Secret


def _status(exc: Exception) -> int | None:
    return getattr(getattr(exc, "response", None), "status_code", None)


def create(certs: RunCertificates, context: RunContext, labels: dict[str, str]) -> None:
    """The run's Secret, replacing one an earlier attempt left (its cluster is gone by now)."""
    import kr8s

    manifest = secret_manifest(certs, context.name, context.namespace, labels, context.owner)
    secret = _secret_class()(manifest, namespace=context.namespace)
    try:
        secret.create()
    except kr8s.ServerError as exc:
        if _status(exc) != 409:
            raise ClusterStartError(_cannot("create", context, exc)) from exc
        log.warning("replacing Secret %s left by an earlier attempt", secret_name(context.name))
        delete(context)
        _secret_class()(manifest, namespace=context.namespace).create()


def read(context: RunContext) -> RunCertificates:
    """The certificates of the run this launcher re-attaches to."""
    import kr8s

    name = secret_name(context.name)
    # A GET of this one name: kr8s's Secret.get() lists with a field selector, and the
    # launcher may not list Secrets (it would read every Secret of the namespace).
    secret = _secret_class()({"metadata": {"name": name}}, namespace=context.namespace)
    try:
        secret.refresh()
        data = secret.raw.get("data") or {}
    except kr8s.NotFoundError:
        raise ClusterStartError(
            f"the DaskCluster {context.name} has TLS on but its Secret {name} is gone, so nobody can "
            f"join it any more: delete the cluster (kubectl delete daskcluster -n {context.namespace} "
            f"{context.name}) and the Job's next pod starts the run again"
        ) from None
    except kr8s.ServerError as exc:
        raise ClusterStartError(_cannot("read", context, exc)) from exc
    try:
        return RunCertificates.from_secret_data({k: base64.b64decode(v).decode() for k, v in data.items()})
    except (KeyError, ValueError) as exc:
        raise ClusterStartError(f"Secret {name} does not hold a run's certificates ({exc!r} missing or bad)") from exc


def adopt(context: RunContext, cluster_uid: str) -> None:
    """Hand the Secret to the DaskCluster: from now on it goes with the cluster."""
    owner = {"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster", "name": context.name, "uid": cluster_uid}
    secret = _secret_class()({"metadata": {"name": secret_name(context.name)}}, namespace=context.namespace)
    secret.patch({"metadata": {"ownerReferences": [owner]}})


def delete(context: RunContext) -> None:
    import kr8s

    try:
        _secret_class()({"metadata": {"name": secret_name(context.name)}}, namespace=context.namespace).delete()
    except kr8s.NotFoundError:
        pass


def _cannot(verb: str, context: RunContext, exc: Exception) -> str:
    return (
        f"cannot {verb} Secret {secret_name(context.name)} with the run's TLS certificates: {exc}; "
        "the launcher's Role needs create on secrets and get/patch/delete on that name "
        "(the chart's Role has them), or set dask_cluster.tls: false"
    )
