"""`daskrun result RELEASE -o FILE`: the result of a run the chart started, from wherever it is.

The run's Job says which config it ran (its ConfigMap) and what it mounted; daskrun.result_source
decides from that where the result went. A stored copy is fetched (S3 with the caller's own
credentials, a claim through daskrun.reader_pod, the Job's ConfigMap of a file that went with
the pod: daskrun.result_copy); when it is not there, the log of every attempt is read as
`daskrun recover --job` reads it.
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from daskrun import kube
from daskrun.atomic_file import write_atomically
from daskrun.config import Config, parse_config
from daskrun.config_file import parse_config_text
from daskrun.credentials import redact
from daskrun.errors import DaskrunError, ResultNotFound, ResultTargetError
from daskrun.job_block import NoBlock, newest_block
from daskrun.job_logs import JobLogError
from daskrun.reader_pod import ReaderPodError, copy_through_pod
from daskrun.recover_file import recover_to_file, recover_to_stream
from daskrun.result_block import Found
from daskrun.result_copy import NotACopy, unpack
from daskrun.result_source import (
    FromClaim,
    FromCopy,
    FromLog,
    FromS3,
    LauncherJob,
    NotFinished,
    launcher_job,
    newest,
    source_for,
)
from daskrun.run_labels import INSTANCE_LABEL, REVISION_LABEL

STDOUT = "-"


@dataclass(frozen=True)
class Fetched:
    where: str  # s3://..., pvc/CLAIM:PATH, or the log of a pod
    size: int


class SourceMissed(DaskrunError):
    """A place the result should be does not hold it (or cannot be read); the next one is tried."""


# -- the Kubernetes API: thin calls, each returning plain dicts -----------------------------


def list_release_jobs(namespace: str, selector: str) -> list[dict[str, Any]]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = kube.api_client()
    try:
        jobs = client.BatchV1Api(api).list_namespaced_job(namespace, label_selector=selector).items
    except ApiException as exc:
        raise ResultNotFound(f"cannot list the Jobs in namespace {namespace}: {kube.server_message(exc)}") from exc
    return [api.sanitize_for_serialization(job) for job in jobs]


def read_config_map(namespace: str, name: str) -> dict[str, str]:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        found = client.CoreV1Api(kube.api_client()).read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        raise ResultNotFound(
            f"cannot read configmap/{name}, the run's config, in namespace {namespace}: {kube.server_message(exc)}"
        ) from exc
    return dict(found.data or {})


def read_copy(namespace: str, source: FromCopy) -> bytes:
    """The file a launcher copied into its Job's ConfigMap; SourceMissed when there is none."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = kube.api_client()
    try:
        found = client.CoreV1Api(api).read_namespaced_config_map(source.config_map, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise SourceMissed(
                "no such ConfigMap: the launcher kept no copy there (too large, or its Role lacks the rights); "
                + source.stored.why("its result")
            ) from None
        raise SourceMissed(kube.server_message(exc)) from None
    try:
        return unpack(api.sanitize_for_serialization(found)).data
    except NotACopy as exc:
        raise SourceMissed(f"not a whole copy of the result: {exc}") from None


# -- which run, which config -----------------------------------------------------------------


def job_selector(release: str, revision: int | None) -> str:
    """The chart's Jobs of `release` (every one carries the revision label), or one revision's."""
    return f"{INSTANCE_LABEL}={release},{REVISION_LABEL}" + ("" if revision is None else f"={revision}")


def pick_run(jobs: list[dict[str, Any]], release: str, namespace: str, revision: int | None) -> LauncherJob:
    run = newest([launcher_job(job) for job in jobs])
    if run is None:
        which = f"release {release}" + ("" if revision is None else f" revision {revision}")
        raise ResultNotFound(
            f"no Job of {which} in namespace {namespace}; check the release and its namespace with "
            f"`helm list -n {namespace}` (a Job deleted by `helm upgrade` or `helm uninstall`, or by "
            "job.ttlSecondsAfterFinished, takes its logs along)"
        )
    return run


def config_of(job: LauncherJob, config_maps: dict[str, str], source: str) -> Config:
    """The run's config, from the data of the ConfigMap its Job mounts, read as `daskrun run` reads it."""
    _, key = config_map_of(job)
    if key not in config_maps:
        raise ResultNotFound(f"{source} has no key {key!r}, the file job/{job.name} runs ({job.config_file})")
    return parse_config(parse_config_text(config_maps[key], source), source)


def config_map_of(job: LauncherJob) -> tuple[str, str]:
    """(ConfigMap, key) of the config the Job's launcher reads."""
    found = job.config_map_key()
    if found is None:
        raise ResultNotFound(
            f"job/{job.name} does not run `daskrun run FILE` with FILE from a ConfigMap volume: "
            "not a Job of the daskrun chart?"
        )
    return found


def find_run(release: str, namespace: str, revision: int | None) -> tuple[LauncherJob, Config]:
    """The release's newest run (or that revision's) and the config it ran."""
    job = pick_run(list_release_jobs(namespace, job_selector(release, revision)), release, namespace, revision)
    name, _ = config_map_of(job)
    return job, config_of(job, read_config_map(namespace, name), f"configmap/{name}")


# -- where FILE goes ----------------------------------------------------------------------------


def check_target(text: str) -> Path | None:
    """The file `-o` names (None: stdout), refused when it cannot be a file."""
    if text == STDOUT:
        return None
    path = Path(text)
    if path.is_dir():
        raise ResultTargetError(f"-o {text} is a directory; name a file in it, e.g. -o {path / 'result.csv'}")
    if not path.parent.is_dir():
        raise ResultTargetError(f"-o {text}: the folder {path.parent} does not exist; create it or choose another -o")
    return path


class _Counting(io.RawIOBase):
    """A binary writer that passes bytes on and counts them."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.out.write(data)
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()


def deliver(target: Path | None, write: Callable[[BinaryIO], object], stdout: BinaryIO | None = None) -> int:
    """`write` the file to `target` atomically, or to stdout once it is whole; return its size.

    Nothing reaches `target` or stdout when `write` raises."""
    if target is not None:
        sizes = []

        def counted(handle: BinaryIO) -> None:
            write(handle)
            sizes.append(handle.tell())

        try:
            write_atomically(counted, target)
        except OSError as exc:
            raise ResultTargetError(f"cannot write {target}: {exc.strerror}; choose another -o path") from exc
        return sizes[0]
    out = stdout or sys.stdout.buffer
    with tempfile.TemporaryFile() as whole:
        write(whole)
        size = whole.tell()
        whole.seek(0)
        shutil.copyfileobj(whole, out)
    out.flush()
    return size


def log_recovery(
    target: Path | None, stdout: BinaryIO | None = None
) -> tuple[Callable[[Iterable[bytes]], Found], Callable[[], int]]:
    """What `daskrun recover -o` does with a log, aimed at `target`; and the size it wrote."""
    if target is not None:
        return (lambda pieces: recover_to_file(pieces, target)), (lambda: target.stat().st_size)
    counter = _Counting(stdout or sys.stdout.buffer)
    return (lambda pieces: recover_to_stream(pieces, counter)), (lambda: counter.count)  # type: ignore[arg-type]


# -- the sources ----------------------------------------------------------------------------------


def download_s3(source: FromS3, job: LauncherJob, handle: BinaryIO) -> None:
    """Copy the object into `handle` with the caller's own AWS credentials (boto3's chain).

    SourceMissed when it is absent, unreadable, or older than the run (an earlier run's)."""
    import boto3
    from botocore.config import Config as BotoConfig
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    # A session of its own: the default one keeps the credentials it found first.
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=source.endpoint_url,
        region_name=source.region,
        config=BotoConfig(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=10),
    )
    try:
        response = client.get_object(Bucket=source.bucket, Key=source.key)
    except NoCredentialsError:
        raise SourceMissed(
            "no AWS credentials found here (boto3's chain: AWS_PROFILE, AWS_ACCESS_KEY_ID, ~/.aws, ...); "
            "set them for an identity that may read the object"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in ("NoSuchKey", "404", "NotFound"):
            raise SourceMissed("no such object") from None
        raise SourceMissed(redact(f"{code}: {error.get('Message', exc)}")) from None
    except BotoCoreError as exc:
        raise SourceMissed(redact(f"{type(exc).__name__}: {exc}")) from None
    modified = response.get("LastModified")
    if job.started is not None and modified is not None and modified < job.started:
        response["Body"].close()
        raise SourceMissed(
            f"the object was written at {modified:%Y-%m-%d %H:%M:%S} UTC, before job/{job.name} started "
            f"({job.started:%Y-%m-%d %H:%M:%S} UTC): an earlier run's"
        )
    with response["Body"] as body:
        shutil.copyfileobj(body, handle)


def _copier(source: FromS3 | FromClaim | FromCopy, job: LauncherJob, namespace: str) -> Callable[[BinaryIO], object]:
    """What copies the stored result into a handle: SourceMissed (ReaderPodError for a claim)
    when it is not there."""
    if isinstance(source, FromS3):
        return lambda handle: download_s3(source, job, handle)
    if isinstance(source, FromClaim):
        return lambda handle: copy_through_pod(job, source, handle)
    return lambda handle: handle.write(read_copy(namespace, source))


def fetch(
    release: str,
    namespace: str,
    revision: int | None,
    target: Path | None,
    say: Callable[[str], None],
) -> tuple[LauncherJob, Fetched]:
    """Find the run, decide where its result is, copy it to `target`; ResultNotFound names
    every place tried."""
    job, config = find_run(release, namespace, revision)
    source = source_for(config, job)
    if isinstance(source, NotFinished):
        raise ResultNotFound(source.why)
    tried = []
    if isinstance(source, FromLog):
        tried.append(source.why)
        say(f"{source.why}; reading the log")
    else:
        try:
            return job, Fetched(source.where, deliver(target, _copier(source, job, namespace)))
        except (SourceMissed, ReaderPodError) as exc:
            tried.append(f"{source.where}: {exc}")
            say(f"{source.where}: {exc}; reading the log")
    recover_into, written = log_recovery(target)
    try:
        block = newest_block(namespace, job.name, recover_into)
    except NoBlock as exc:
        tried.append(f"the log: {exc}" + "".join(f"\n    {miss}" for miss in exc.misses))
    except JobLogError as exc:
        tried.append(f"the log: {exc}")
    except OSError as exc:
        raise ResultTargetError(f"cannot write {target}: {exc.strerror}; choose another -o path") from exc
    else:
        attempt = block.attempt
        return job, Fetched(f"the log of pod {attempt.pod} (attempt {attempt.number} of {attempt.of})", written())
    raise ResultNotFound(
        f"no copy of the result of release {release} revision {job.revision} (job/{job.name}) was found; tried:\n"
        + "\n".join(f"  - {item}" for item in tried)
    )
