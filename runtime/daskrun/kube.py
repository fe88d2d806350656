"""daskrun's own Kubernetes API access: the official `kubernetes` client, one loading rule.

In a pod, its ServiceAccount (in-cluster config); elsewhere $KUBECONFIG, else ~/.kube/config,
as kubectl and helm do. Used by submit (following a run), preflight and ownership.
kr8s is used only for the Dask cluster, its pods and Secret (cluster, scheduling, run_secret),
because dask-kubernetes' KubeCluster is built on it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_pod() -> bool:
    """Whether this process runs in a pod with a mounted ServiceAccount token."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT / "token").is_file()


def api_client() -> Any:
    """A `kubernetes.client.ApiClient` by the loading rule above; raises when there are no credentials."""
    from kubernetes import client, config

    configuration = client.Configuration()
    if in_pod():
        config.load_incluster_config(client_configuration=configuration)
    else:
        # $KUBECONFIG as it is now: the client reads the variable only once, at import.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration)
    return client.ApiClient(configuration)


def kubeconfig_namespace() -> str | None:
    """The namespace of the kubeconfig's current context, if it names one."""
    from kubernetes import config

    try:
        _, active = config.list_kube_config_contexts(config_file=os.environ.get("KUBECONFIG"))
    except Exception:  # noqa: BLE001 - no or unreadable kubeconfig: nothing to say
        return None
    return (active or {}).get("context", {}).get("namespace") or None


def server_message(exc: Any) -> str:
    """The API server's own message from an ApiException, else its status line; the text of
    any other error (no credentials, a refused connection)."""
    try:
        return json.loads(exc.body)["message"]
    except Exception:  # noqa: BLE001
        pass
    if hasattr(exc, "status") and hasattr(exc, "reason"):
        return f"{exc.status} {exc.reason}"
    return str(exc)
