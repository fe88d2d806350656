"""A copy of a result the launcher stored where it goes with its pod, in a ConfigMap of the Job.

The default install writes `output.path` into the launcher's own filesystem: no claim, no S3,
nothing a user has to set up. The pod is deleted sooner or later (evicted, its node drained,
`kubectl delete`), its log with it, and a result printed into that log is gone too. So the
launcher also keeps the file, gzipped, in the ConfigMap `<job>-result`, owned by its Job:
it outlives every pod of the Job, `daskrun result` reads it with the rights that read the
run's config, and garbage collection removes it with the Job (`helm upgrade`, `helm
uninstall`, job.ttlSecondsAfterFinished). A ConfigMap holds at most 1 MiB: a larger result is
printed into the log as before, with a warning that names the ways to keep it.

The launcher's Role may create ConfigMaps (a verb Kubernetes cannot limit to a name) and
delete this one name: an attempt's copy replaces the one an earlier attempt left.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from daskrun import kube
from daskrun.context import RunContext
from daskrun.manifest import labels, run_object_metadata
from daskrun.run_labels import COMPONENT_LABEL

log = logging.getLogger(__name__)

CONFIG_MAP_SUFFIX = "-result"  # the chart's Role names `<job><suffix>`
DATA_KEY = "result.gz"
COMPONENT = "result-copy"
# The API server refuses a ConfigMap whose data passes 1 MiB (1,048,576 bytes); the rest of
# the object (annotations, labels, the owner) stays well inside the remainder.
LIMIT = 1_000_000

# The result is stored and the run not yet marked kept (daskrun.kept_mark): an API server that
# does not answer must not hold the launcher there.
REQUEST_TIMEOUT = 30

FORMAT_ANNOTATION = "daskrun.io/result-format"
SHA256_ANNOTATION = "daskrun.io/result-sha256"  # of the file, not of its gzip
SIZE_ANNOTATION = "daskrun.io/result-bytes"
STORED_AT_ANNOTATION = "daskrun.io/result-stored-at"


def config_map_name(job_name: str) -> str:
    return f"{job_name}{CONFIG_MAP_SUFFIX}"


class TooLarge(ValueError):
    """The result does not fit a ConfigMap, even gzipped."""


class NotACopy(ValueError):
    """A ConfigMap of that name that does not hold a whole copy (edited, or not ours)."""


@dataclass(frozen=True)
class Copy:
    data: bytes
    fmt: str
    stored_at: str


@dataclass(frozen=True)
class Packed:
    gzipped: bytes
    sha256: str  # of the file, not of its gzip
    size: int


CHUNK = 1 << 20


def pack(chunks: Iterable[bytes], limit: int | None = None) -> Packed:
    """The file of `chunks`, gzipped; TooLarge as soon as the gzip passes `limit` (LIMIT), so a
    file of gigabytes is never held whole."""
    limit = LIMIT if limit is None else limit
    digest, size, out = hashlib.sha256(), 0, io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as packing:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            packing.write(chunk)
            if out.tell() > limit:
                raise TooLarge(
                    f"more than the {limit:,} bytes a ConfigMap holds, gzipped, after {size:,} bytes of the file"
                )
    if out.tell() > limit:
        raise TooLarge(f"{out.tell():,} bytes gzipped, more than the {limit:,} bytes a ConfigMap holds")
    return Packed(out.getvalue(), digest.hexdigest(), size)


def manifest(packed: Packed, fmt: str, stored_at: str, context: RunContext, job_name: str) -> dict[str, Any]:
    """The ConfigMap keeping a packed file."""
    metadata = run_object_metadata(context, config_map_name(job_name), {**labels(context), COMPONENT_LABEL: COMPONENT})
    metadata["annotations"] = {
        FORMAT_ANNOTATION: fmt,
        SHA256_ANNOTATION: packed.sha256,
        SIZE_ANNOTATION: str(packed.size),
        STORED_AT_ANNOTATION: stored_at,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "binaryData": {DATA_KEY: base64.b64encode(packed.gzipped).decode()},
        "immutable": True,
    }


def unpack(config_map: dict[str, Any]) -> Copy:
    """The file a copy holds, its checksum verified; NotACopy when it is not whole."""
    annotations = (config_map.get("metadata") or {}).get("annotations") or {}
    raw = (config_map.get("binaryData") or {}).get(DATA_KEY)
    digest = annotations.get(SHA256_ANNOTATION)
    if raw is None or digest is None:
        raise NotACopy(f"it has no {DATA_KEY} or no {SHA256_ANNOTATION} annotation")
    try:
        data = gzip.decompress(base64.b64decode(raw, validate=True))
    except (ValueError, OSError, EOFError) as exc:
        raise NotACopy(f"its {DATA_KEY} is not gzipped base64 ({exc})") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise NotACopy(f"its {DATA_KEY} does not match the sha256 it was stored with")
    return Copy(data, annotations.get(FORMAT_ANNOTATION, "?"), annotations.get(STORED_AT_ANNOTATION, "?"))


def _core() -> Any:
    from kubernetes import client

    return client.CoreV1Api(kube.api_client())


def keep(path: str, fmt: str, context: RunContext, job_name: str) -> str | None:
    """Copy the file at `path` into the Job's ConfigMap; its name, or None (with a warning
    saying why) when it cannot be kept there."""
    from kubernetes.client.exceptions import ApiException

    name = config_map_name(job_name)
    try:
        with open(path, "rb") as handle:
            body = manifest(pack(iter(lambda: handle.read(CHUNK), b"")), fmt, path, context, job_name)
    except (OSError, TooLarge) as exc:
        log.warning("no copy of the result in configmap/%s: %s", name, exc)
        return None
    core = _core()
    try:
        try:
            core.create_namespaced_config_map(context.namespace, body, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status != 409:
                raise
            # An earlier attempt's copy (immutable): this attempt's result replaces it.
            core.delete_namespaced_config_map(name, context.namespace, _request_timeout=REQUEST_TIMEOUT)
            core.create_namespaced_config_map(context.namespace, body, _request_timeout=REQUEST_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - an old chart's Role, the API server away: the log keeps it
        # The Role's rights are the fix only when the API server refused them.
        forbidden = getattr(exc, "status", None) == 403
        log.warning(
            "no copy of the result in configmap/%s: %s%s",
            name,
            kube.server_message(exc),
            "; the launcher's Role needs create on configmaps and delete on that name (the chart's Role has them)"
            if forbidden
            else "",
        )
        return None
    return name
