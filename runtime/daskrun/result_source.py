"""Where a finished run of the chart's Job left its result (and the report files beside it),
decided from the Job and its config.

Everything here is pure: it reads a Job as the API server returns it (a plain dict, camelCase
keys, as `helm template` renders it too) and the run's parsed config. `daskrun result`
(daskrun.result_fetch) and `daskrun report` (daskrun.report_fetch) do the reading and copying.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daskrun.config import Config, Output
from daskrun.job_logs import RUN_CONTAINER
from daskrun.manifest import IMAGE_HOME
from daskrun.result_copy import config_map_name
from daskrun.run_labels import REVISION_LABEL
from daskrun.run_summary import FAILED, SUCCEEDED


@dataclass(frozen=True)
class Mount:
    """One volume mounted in the launcher container, with what the Job's pod template says of it."""

    path: str
    volume: str
    claim: str | None = None  # the PersistentVolumeClaim's name, when the volume is one
    sub_path: str | None = None
    config_map: str | None = None
    config_map_items: tuple[tuple[str, str], ...] = ()  # (key, path) when the volume lists items


@dataclass(frozen=True)
class LauncherJob:
    """The facts of one run's Job that `daskrun result` needs."""

    name: str
    namespace: str
    uid: str
    revision: int | None
    created: str
    state: str  # one of JOB_STATES
    state_detail: str  # the condition's reason and message, for messages
    started: datetime | None
    image: str
    working_dir: str
    config_file: str | None  # the path `daskrun run` reads its config from
    mounts: tuple[Mount, ...]
    pod_spec: dict[str, Any]  # the pod template's spec, for the reader pod's placement and user

    def mount_of(self, path: str) -> Mount | None:
        """The mount that holds `path` (absolute): the deepest whose directory contains it."""
        holding = [m for m in self.mounts if _contains(m.path, path)]
        return max(holding, key=lambda m: len(m.path.rstrip("/")), default=None)

    def config_map_key(self) -> tuple[str, str] | None:
        """(ConfigMap, key) of the config file the launcher reads, found from its mounts."""
        if self.config_file is None:
            return None
        mount = self.mount_of(self.config_file)
        if mount is None or mount.config_map is None:
            return None
        inside = posixpath.relpath(self.config_file, mount.path)
        if mount.sub_path:
            # A subPath mount of one key mounts that key's file at mount.path itself.
            inside = mount.sub_path if inside == "." else posixpath.join(mount.sub_path, inside)
        if mount.config_map_items:
            keys = [key for key, path in mount.config_map_items if path == inside]
            return (mount.config_map, keys[0]) if keys else None
        return mount.config_map, inside


RUNNING, SUSPENDED = "running", "suspended"
JOB_STATES = (RUNNING, SUSPENDED, SUCCEEDED, FAILED)


def _contains(directory: str, path: str) -> bool:
    directory = directory.rstrip("/") or "/"
    return path == directory or path.startswith(directory if directory == "/" else directory + "/")


def _state(job: dict[str, Any]) -> tuple[str, str]:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        detail = ": ".join(x for x in (condition.get("reason"), condition.get("message")) if x)
        if condition.get("type") in ("Complete", "SuccessCriteriaMet"):
            return SUCCEEDED, detail
        # FailureTarget: failed, its pods still terminating (Kubernetes 1.31 and later).
        if condition.get("type") in ("Failed", "FailureTarget"):
            return FAILED, detail
    if (job.get("spec") or {}).get("suspend") and not (job.get("status") or {}).get("active"):
        return SUSPENDED, ""
    return RUNNING, ""


def _started(job: dict[str, Any]) -> datetime | None:
    value = (job.get("status") or {}).get("startTime")
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _config_file(container: dict[str, Any]) -> str | None:
    """FILE of the chart's `daskrun run FILE`, absolute."""
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    at = argv.index("run") + 1 if "run" in argv else len(argv)
    if at >= len(argv) or argv[at].startswith("-"):
        return None
    return posixpath.normpath(posixpath.join(container.get("workingDir") or IMAGE_HOME, argv[at]))


def launcher_job(job: dict[str, Any]) -> LauncherJob:
    """The facts of a Job of the chart (its launcher container is RUN_CONTAINER)."""
    metadata = job.get("metadata") or {}
    spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = [c for c in spec.get("containers") or [] if c.get("name") == RUN_CONTAINER]
    container = containers[0] if containers else {}
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    mounts = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name")) or {}
        config_map = volume.get("configMap") or {}
        mounts.append(
            Mount(
                path=posixpath.normpath(mount.get("mountPath") or "/"),
                volume=str(mount.get("name")),
                claim=(volume.get("persistentVolumeClaim") or {}).get("claimName"),
                sub_path=mount.get("subPath") or None,
                config_map=config_map.get("name"),
                config_map_items=tuple((i.get("key"), i.get("path")) for i in config_map.get("items") or []),
            )
        )
    revision = str((metadata.get("labels") or {}).get(REVISION_LABEL, ""))
    state, detail = _state(job)
    return LauncherJob(
        name=str(metadata.get("name")),
        namespace=str(metadata.get("namespace")),
        uid=str(metadata.get("uid") or ""),
        revision=int(revision) if revision.isdigit() else None,
        created=str(metadata.get("creationTimestamp") or ""),
        state=state,
        state_detail=detail,
        started=_started(job),
        image=str(container.get("image") or ""),
        working_dir=container.get("workingDir") or IMAGE_HOME,
        config_file=_config_file(container),
        mounts=tuple(mounts),
        pod_spec=spec,
    )


def newest(jobs: list[LauncherJob]) -> LauncherJob | None:
    """The run of the highest Helm revision; among equal ones (`helm template` renders revision 1
    every time) the one created last."""
    return max(jobs, key=lambda j: (j.revision if j.revision is not None else -1, j.created), default=None)


@dataclass(frozen=True)
class FromS3:
    bucket: str
    key: str
    endpoint_url: str | None
    region: str | None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    where = url  # as the other sources name themselves


@dataclass(frozen=True)
class FromClaim:
    claim: str
    mount: Mount
    path: str  # absolute, as the launcher saw it; the reader pod mounts the claim alike

    @property
    def where(self) -> str:
        inside = posixpath.relpath(self.path, self.mount.path)
        if self.mount.sub_path:
            inside = posixpath.join(self.mount.sub_path, inside)
        return f"pvc/{self.claim}:{inside}"


@dataclass(frozen=True)
class FromLog:
    why: str  # why the log, not a stored file, for the message


@dataclass(frozen=True)
class InPod:
    """A file the run stored in the launcher pod itself (its own filesystem, or a volume that is
    not a claim): gone with the pod."""

    path: str
    held: str  # where in the pod, for the message

    def why(self, what: str) -> str:
        return (
            f"the run stored {what} at {self.path} in the launcher pod ({self.held}), which went with the pod; "
            "set outputVolume.create: true (or outputVolume.existingClaim, or an S3 output) to keep it"
        )


@dataclass(frozen=True)
class FromCopy:
    """The copy a launcher keeps, in a ConfigMap of its Job, of a result it stored in its own
    pod (daskrun.result_copy); a launcher that could not keep one printed the result instead."""

    config_map: str
    stored: InPod

    @property
    def where(self) -> str:
        return f"configmap/{self.config_map}"


@dataclass(frozen=True)
class NotFinished:
    why: str


Source = FromS3 | FromClaim | FromCopy | FromLog | NotFinished


def not_finished(job: LauncherJob) -> NotFinished | None:
    """Why a run that is still going (or suspended) has stored nothing final yet; None once it ended."""
    if job.state not in (RUNNING, SUSPENDED):
        return None
    return NotFinished(
        f"job/{job.name} is {job.state}: it has no result yet; wait for it "
        f"(`kubectl wait --for=condition=complete job/{job.name} -n {job.namespace}`) and try again"
    )


def stored_at(output: Output, job: LauncherJob) -> FromS3 | FromClaim | InPod:
    """Where the launcher of `job` wrote a file that `output` names (the result, or a file beside it)."""
    location = output.s3_object
    if location is not None:
        return FromS3(*location, endpoint_url=output.endpoint_url, region=output.region)
    assert output.path is not None  # the model requires a path with `output`
    path = posixpath.normpath(posixpath.join(job.working_dir, output.path))
    mount = job.mount_of(path)
    if mount is not None and mount.claim:
        return FromClaim(mount.claim, mount, path)
    return InPod(
        path, f"on its {mount.volume} volume, not a PersistentVolumeClaim" if mount else "on its own filesystem"
    )


def source_for(config: Config, job: LauncherJob) -> Source:
    """Where the run's result is to be found first (a stored copy may still fall back to the log)."""
    waiting = not_finished(job)
    if waiting is not None:
        return waiting
    output = config.output
    if output is None:
        return FromLog("the run has no `output`: it printed its result into the log")
    if job.state == FAILED:
        # Only exit 3 (storing failed) leaves a result, printed to the log; an object or file
        # at the output path is an earlier run's.
        return FromLog(
            f"job/{job.name} failed ({job.state_detail or 'no reason given'}): a result it could not store is in the log"
        )
    stored = stored_at(output, job)
    return FromCopy(config_map_name(job.name), stored) if isinstance(stored, InPod) else stored
