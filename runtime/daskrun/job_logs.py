"""The launcher's log of every attempt of a run's Job.

A Job retried after exit 4 has one pod per attempt, and `kubectl logs job/NAME` shows the log
of one of them only -- not necessarily the attempt that printed the result block. Here the
pods are read newest first, as `daskrun recover --job` wants them: the last attempt that
printed a block printed the run's result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from daskrun import kube

RUN_CONTAINER = "daskrun"  # the launcher's container in the chart's Job (templates/job.yaml)
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Attempt:
    pod: str
    number: int  # 1 for the Job's first pod
    of: int


class JobLogError(Exception):
    pass


def attempts(namespace: str, job: str) -> list[Attempt]:
    """The Job's pods, newest first. Raises JobLogError naming what could not be read."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(kube.api_client())
    try:
        pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items
    except ApiException as exc:
        raise JobLogError(
            f"cannot list the pods of job/{job} in namespace {namespace}: {kube.server_message(exc)}"
        ) from exc
    if not pods:
        raise JobLogError(
            f"job/{job} has no pods in namespace {namespace} (a Job deleted, or its pods garbage-collected, "
            "takes their logs along); check the name with `kubectl get jobs -n NAMESPACE`"
        )
    created = sorted((p.metadata.creation_timestamp, p.metadata.name) for p in pods if p.metadata)
    found = [Attempt(str(name), n, len(created)) for n, (_, name) in enumerate(created, start=1)]
    return found[::-1]


def log_pieces(namespace: str, pod: str) -> Iterator[bytes]:
    """The launcher container's whole log, streamed in chunks (it may hold a large result block)."""
    return container_log(namespace, pod, RUN_CONTAINER)


def container_log(namespace: str, pod: str, container: str) -> Iterator[bytes]:
    """A container's whole log, streamed, as lines (each with its line break but maybe the last)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(kube.api_client())
    try:
        response: Any = core.read_namespaced_pod_log(pod, namespace, container=container, _preload_content=False)
    except ApiException as exc:
        raise JobLogError(f"cannot read the log of pod {pod}: {kube.server_message(exc)}") from exc
    try:
        yield from _lines(response.stream(_CHUNK))
    finally:
        response.release_conn()


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks re-cut after each line break: a block's reader takes whole lines."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest
