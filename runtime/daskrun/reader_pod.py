"""A short-lived pod that reads a result file from the run's PersistentVolumeClaim.

The claim is mounted read-only, as the launcher mounted it (same path, same subPath), in a
pod of the run's own image that prints the file's size on one line and then the file as
base64 into its log. The copy is taken only when the log holds exactly that many bytes: the
kubelet rotates a container's log (10 MiB by default), and a rotated log reads as a cut one.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from daskrun import kube
from daskrun.errors import DaskrunError
from daskrun.job_logs import JobLogError, container_log
from daskrun.manifest import restricted_container
from daskrun.result_source import FromClaim, LauncherJob
from daskrun.run_labels import COMPONENT_LABEL

log = logging.getLogger(__name__)

CONTAINER = "reader"
COMPONENT = "result-reader"  # its COMPONENT_LABEL, to find a left-over one
VOLUME = "result"
TIMEOUT = 300.0  # seconds for the pod to pull its image, read and end
POLL = 1.0

# Python's standard library only, so that it runs in any image of the chart, old or new
# (the daskrun package there may predate this module). The path comes as an argument, never
# inside the program text.
READER_SCRIPT = """\
import base64, os, sys
with open(sys.argv[1], "rb") as f:
    sys.stdout.buffer.write(b"%d\\n" % os.fstat(f.fileno()).st_size)
    base64.encode(f, sys.stdout.buffer)
sys.stdout.buffer.flush()
"""
# A pull that cannot succeed, or a pod the kubelet cannot start: waiting longer would not help.
_HOPELESS = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}


class ReaderPodError(DaskrunError):
    """The reader pod did not give a whole copy of the file; the message says why."""


def reader_pod_name(job: LauncherJob) -> str:
    suffix = f"-result-{secrets.token_hex(3)}"
    return job.name[: 63 - len(suffix)].rstrip("-") + suffix


def reader_pod_manifest(job: LauncherJob, source: FromClaim, name: str) -> dict[str, Any]:
    """The reader pod: the Job's image and placement, its user, nothing writable, no token."""
    template = job.pod_spec
    user = template.get("securityContext") or {}
    pod_security: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    for key in ("runAsUser", "runAsGroup"):
        if user.get(key) is not None:
            pod_security[key] = user[key]
    # The file may be readable by the fsGroup only. As a supplemental group it gives access
    # without fsGroup's side effect: the kubelet changing the volume's ownership.
    groups = list(user.get("supplementalGroups") or [])
    if user.get("fsGroup") is not None and user["fsGroup"] not in groups:
        groups.append(user["fsGroup"])
    if groups:
        pod_security["supplementalGroups"] = groups
    mount: dict[str, Any] = {"name": VOLUME, "mountPath": source.mount.path, "readOnly": True}
    if source.mount.sub_path:
        mount["subPath"] = source.mount.sub_path
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": int(TIMEOUT),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security,
        "containers": [
            {
                "name": CONTAINER,
                "image": job.image,
                # args, not command: the image's entrypoint (tini) stays PID 1, as in the Job.
                "args": ["python3", "-c", READER_SCRIPT, source.path],
                "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
                "securityContext": {
                    **restricted_container(),
                    "runAsNonRoot": True,
                    "privileged": False,
                    "readOnlyRootFilesystem": True,
                },
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                "volumeMounts": [mount],
            }
        ],
        "volumes": [{"name": VOLUME, "persistentVolumeClaim": {"claimName": source.claim, "readOnly": True}}],
    }
    # Where the Job's pods may run (a tainted pool, an architecture the image is built for).
    for key in ("imagePullSecrets", "nodeSelector", "tolerations", "affinity", "priorityClassName"):
        if template.get(key):
            spec[key] = template[key]
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": job.namespace,
        "labels": {"app.kubernetes.io/name": "daskrun", COMPONENT_LABEL: COMPONENT},
    }
    if job.uid:
        # Deleting the Job removes a reader pod that this process could not delete (SIGKILL).
        metadata["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": job.name, "uid": job.uid}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def decode_reader_output(lines: Iterable[bytes], sink: BinaryIO) -> int:
    """Write the file of READER_SCRIPT's output (its log, as lines) to `sink`; return its size.

    Refused (ReaderPodError) unless the output is whole: the size line, base64 lines that all
    end in a line break, and exactly that many bytes."""
    pieces: Iterator[bytes] = iter(lines)
    first = next(pieces, b"")
    if not first.endswith(b"\n") or not first[:-1].isdigit():
        raise ReaderPodError(f"the reader pod's output does not start with the file's size: {first[:80]!r}")
    size = int(first)
    written = 0
    for line in pieces:
        if not line.endswith(b"\n"):
            raise ReaderPodError(
                f"the reader pod's output is cut off after {written} of {size} bytes (its last line is incomplete)"
            )
        try:
            data = base64.b64decode(line[:-1], validate=True)
        except binascii.Error as exc:
            raise ReaderPodError(f"the reader pod's output is not base64 after {written} bytes: {exc}") from None
        sink.write(data)
        written += len(data)
    if written != size:
        raise ReaderPodError(
            f"the reader pod's log holds {written} of the file's {size} bytes: cut off, e.g. by the kubelet's "
            "log rotation (containerLogMaxSize); copy the file from the claim another way, or use an S3 output"
        )
    return size


def copy_through_pod(job: LauncherJob, source: FromClaim, sink: BinaryIO, timeout: float = TIMEOUT) -> int:
    """Create the reader pod, wait for it to end, decode its log into `sink`; the pod is
    deleted in every case. Returns the file's size."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(kube.api_client())
    name = reader_pod_name(job)
    try:
        manifest: Any = reader_pod_manifest(job, source, name)  # the client takes a dict as the JSON body
        core.create_namespaced_pod(job.namespace, manifest)
    except ApiException as exc:
        raise ReaderPodError(
            f"cannot create a pod in namespace {job.namespace} to read pvc/{source.claim}: {kube.server_message(exc)}"
        ) from exc
    try:
        phase = _wait_until_done(core, job.namespace, name, timeout)
        try:
            if phase != "Succeeded":
                tail = b"".join(container_log(job.namespace, name, CONTAINER)).decode("utf-8", "replace")[-500:]
                raise ReaderPodError(f"the reader pod {name} failed reading {source.path}: {tail.strip() or phase}")
            return decode_reader_output(container_log(job.namespace, name, CONTAINER), sink)
        except JobLogError as exc:
            raise ReaderPodError(str(exc)) from exc
    finally:
        try:
            core.delete_namespaced_pod(name, job.namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                log.warning("could not delete the reader pod %s: %s", name, kube.server_message(exc))


def _wait_until_done(core: Any, namespace: str, name: str, timeout: float) -> str:
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + timeout
    while True:
        try:
            pod = core.read_namespaced_pod(name, namespace)
        except ApiException as exc:
            raise ReaderPodError(f"cannot read the reader pod {name}: {kube.server_message(exc)}") from exc
        phase = pod.status.phase if pod.status else None
        if phase in ("Succeeded", "Failed"):
            return str(phase)
        for status in (pod.status.container_statuses or []) if pod.status else []:
            waiting = status.state.waiting if status.state else None
            if waiting is not None and waiting.reason in _HOPELESS:
                raise ReaderPodError(f"the reader pod {name} cannot start: {waiting.reason}: {waiting.message or ''}")
        if time.monotonic() > deadline:
            raise ReaderPodError(
                f"the reader pod {name} did not finish within {timeout:.0f}s (phase {phase}); "
                f"see `kubectl describe pod {name} -n {namespace}` while it exists"
            )
        time.sleep(POLL)
