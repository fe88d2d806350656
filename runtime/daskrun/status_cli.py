"""`daskrun status [RELEASE] [-n NS | -A] [-o json]`: the runs of a namespace, one line each.

Reads Jobs, their pods and the newest launcher's log: the rights of a user who may read pods,
jobs and logs in the namespace (no ConfigMap, no Secret, no Dask connection), and the same
for either controller mode. What each line says is daskrun.run_status's.
"""

from __future__ import annotations

import datetime
import json
import sys
from typing import Any

from daskrun import kube
from daskrun.context import current_namespace
from daskrun.job_logs import RUN_CONTAINER
from daskrun.run_labels import INSTANCE_LABEL, REVISION_LABEL
from daskrun.run_status import RunStatus, newest, status_of, table

# A launcher's log may hold a whole result block: its start says the phases, its end the
# progress. Enough of both, never the whole of a large one.
HEAD_BYTES = 256 << 10
TAIL_LINES = 400


class StatusError(Exception):
    pass


def _launcher_log(core: Any, namespace: str, pod: dict[str, Any] | None) -> str:
    if pod is None or (pod.get("status") or {}).get("phase") == "Pending":
        return ""
    name = pod["metadata"]["name"]
    try:
        head = core.read_namespaced_pod_log(name, namespace, container=RUN_CONTAINER, limit_bytes=HEAD_BYTES)
        tail = core.read_namespaced_pod_log(name, namespace, container=RUN_CONTAINER, tail_lines=TAIL_LINES)
    except Exception:  # noqa: BLE001 - a pod gone between the list and the read: no log to show
        return ""
    return f"{head}\n{tail}"


def api_client() -> Any:
    try:
        return kube.api_client()
    except Exception as exc:  # noqa: BLE001 - no kubeconfig, no credentials
        raise StatusError(f"cannot reach the cluster: {exc}") from exc


def collect(
    namespace: str | None,
    release: str | None,
    all_namespaces: bool,
    revision: int | None = None,
    api: Any = None,
) -> list[RunStatus]:
    """The status of every run (Job of the chart) in the namespace, or in all of them; through
    `api` (a kubernetes ApiClient) when given, so a watch keeps one connection."""
    from kubernetes import client

    api = api or api_client()
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    selector = (
        REVISION_LABEL + (f"={revision}" if revision else "") + (f",{INSTANCE_LABEL}={release}" if release else "")
    )
    # A None namespace is the one every command uses (context.current_namespace), not `default`.
    listed = "" if all_namespaces else current_namespace(namespace)
    where = f"namespace {listed}" if listed else "all namespaces"
    try:
        if not listed:
            jobs = batch.list_job_for_all_namespaces(label_selector=selector).items
        else:
            jobs = batch.list_namespaced_job(listed, label_selector=selector).items
    except Exception as exc:  # noqa: BLE001
        raise StatusError(f"cannot list the Jobs in {where}: {kube.server_message(exc)}") from exc
    now = datetime.datetime.now(datetime.UTC)
    found = []
    for job in jobs:
        job_json = api.sanitize_for_serialization(job)
        job_namespace = job_json["metadata"]["namespace"]
        name = job_json["metadata"]["name"]
        try:
            pods = core.list_namespaced_pod(job_namespace, label_selector=f"job-name={name}").items
        except Exception as exc:  # noqa: BLE001
            raise StatusError(
                f"cannot list the pods of job/{name} in namespace {job_namespace}: {kube.server_message(exc)}"
            ) from exc
        pods_json = [api.sanitize_for_serialization(p) for p in pods]
        log = _launcher_log(core, job_namespace, newest(pods_json))
        found.append(status_of(job_json, pods_json, log, now))
    return sorted(found, key=lambda s: (s.namespace, s.release, int(s.revision) if s.revision.isdigit() else 0))


def cli_status(release: str | None, namespace: str | None, all_namespaces: bool, output: str) -> int:
    namespace = None if all_namespaces else current_namespace(namespace)
    try:
        statuses = collect(namespace, release, all_namespaces)
    except StatusError as exc:
        print(f"daskrun status: {exc}", file=sys.stderr)
        return 1
    if output == "json":
        json.dump([s.as_dict() for s in statuses], sys.stdout, indent=2)
        print()
        return 0
    if not statuses:
        what = f"release {release}" if release else "daskrun run"
        where = "any namespace" if all_namespaces else f"namespace {namespace}"
        print(f"no {what} in {where} (helm list{' -A' if all_namespaces else f' -n {namespace}'})", file=sys.stderr)
        return 1 if release else 0
    print(table(statuses, with_namespace=all_namespaces))
    return 0
