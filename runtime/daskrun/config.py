"""The run's configuration: the ``run`` / ``dask_cluster`` / ``output`` dict, validated.

This model is the single source of truth for the config's shape: the CLI validates
with it, and the chart's ``values.schema.json`` is generated from ``config_json_schema``.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Union

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonDict

from daskrun import run_tls, user_code
from daskrun.chart_path import chart_keys
from daskrun.config_file import NOT_A_MAPPING, read_config_file
from daskrun.config_messages import messages
from daskrun.credentials import credential_errors, masked_args
from daskrun.errors import ConfigError, clip
from daskrun.quantity import Quantity, quantity_value
from daskrun.strict_model import Strict

CONFIG_KEYS = ("run", "dask_cluster", "output")

# Used when `dask_cluster.workers` is absent, locally and on Kubernetes alike.
DEFAULT_WORKERS = 2
# More workers than any run here needs; a typo such as 10000 would otherwise reach `replicas`.
MAX_WORKERS = 1000

_FUNCTION = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*([.:][A-Za-z_]\w*)$")
_DNS_LABEL_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# Extended resources have a domain prefix (nvidia.com/gpu, example.com/dongle); the API
# server wants them as whole numbers, requested and limited alike.
EXTENDED_RESOURCE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _check_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit() or int(value) < 1:
        raise ValueError(f"{value!r} is not a whole number >= 1 (extended resources are counted, e.g. 1)")
    return int(value)


def _resources_schema(schema: dict[str, Any]) -> None:
    schema["properties"].pop("extended", None)
    schema["patternProperties"] = {EXTENDED_RESOURCE.pattern: {"type": "integer", "minimum": 1}}
    schema["additionalProperties"] = False


MAX_THREADS = 1024  # far above any node's cores
MAX_WAIT_SECONDS = 7 * 24 * 3600
MIN_MEMORY_BYTES = 32 * 2**20  # below this no Python process with dask imported starts


class Resources(Strict):
    """Requests and limits of one container; also sizes the worker's threads and memory limit.

    Besides memory, cpu and ephemeral-storage, extended resources such as `nvidia.com/gpu: 1`
    (any `domain/name`); they sit at the same level in the file and in `extended` here."""

    model_config = ConfigDict(json_schema_extra=_resources_schema)

    memory: Quantity | None = Field(None, description="Memory, e.g. 4G or 500Mi.")
    cpu: Quantity | None = Field(None, description="CPU cores, e.g. 2 or 0.5.")
    ephemeral_storage: Quantity | None = Field(
        None, alias="ephemeral-storage", description="Local disk (emptyDirs, logs, writable layer), e.g. 10Gi."
    )
    extended: dict[str, Annotated[int, BeforeValidator(_check_count)]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_extended(cls, data: Any) -> Any:
        if isinstance(data, dict) and "extended" not in data:
            extended = {k: v for k, v in data.items() if isinstance(k, str) and EXTENDED_RESOURCE.match(k)}
            if extended:
                data = {k: v for k, v in data.items() if k not in extended}
                data["extended"] = extended
        return data

    @model_serializer(mode="wrap")
    def _as_written(self, handler: Any) -> dict[str, Any]:
        # Dumped as the file has them: `ephemeral-storage`, extended resources beside cpu.
        data = handler(self)
        data.update(data.pop("extended", None) or {})
        if "ephemeral_storage" in data:
            data["ephemeral-storage"] = data.pop("ephemeral_storage")
        return data

    @field_validator("memory")
    @classmethod
    def _enough_memory(cls, memory: Any) -> Any:
        # A bare number is bytes and `m` is thousandths: `memory: 4` or `500m` would start a
        # pod that the kernel kills at once, or that Kubernetes refuses.
        if memory is not None and quantity_value(memory) < MIN_MEMORY_BYTES:
            raise ValueError(
                f"{clip(str(memory))!r} is less than {MIN_MEMORY_BYTES // 2**20}Mi (a bare number is bytes, "
                "`m` is thousandths of a byte); write e.g. 4G or 500Mi"
            )
        return memory

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory is None else int(quantity_value(self.memory))

    @property
    def cpu_cores(self) -> float | None:
        return None if self.cpu is None else quantity_value(self.cpu)


def _inside_the_clone(path: str) -> str:
    if path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"{path!r} must be a relative path inside the clone, e.g. 'benchmark'")
    problem = user_code.relative_path_problem(path, has_repository=True)
    if problem:
        raise ValueError(problem)
    return path


def _has_repository(info: ValidationInfo) -> bool:
    # `git_repository` is declared before the fields that ask, so it is in `info.data` -- as
    # None when not given; missing only when it failed, and then that error is the one to show.
    return info.data.get("git_repository", True) is not None


def _usable_path(path: str, info: ValidationInfo) -> str:
    problem = user_code.relative_path_problem(path, _has_repository(info))
    if problem:
        raise ValueError(problem)
    return path


def _usable_preload(entry: str, info: ValidationInfo) -> str:
    problem = user_code.preload_problem(entry, _has_repository(info))
    if problem:
        raise ValueError(problem)
    return entry


# Not starting with '-' (git would read an option) or a space, no control characters; a
# reference holds no space either (git check-ref-format), a local path may.
_GIT_URL = r"^[^\s\x00-\x1f\x7f-][^\x00-\x1f\x7f]*$"
_GIT_REFERENCE = r"^[^\s\x00-\x1f\x7f-][^\s\x00-\x1f\x7f]*$"
# The distribution reference grammar (docker/distribution reference/regexp.go), without IPv6.
_IMAGE_DOMAIN = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?"
)
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = (
    rf"^(?:{_IMAGE_DOMAIN}/)?{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
# Pip options are not allowed among the packages: no item starts with '-' (or a space).
_PIP_PACKAGE = r"^[^-\s]"


# git's remote helpers that are no repository address: `fd::N` talks over file descriptors
# the clone inherits (it waited forever), `ext::CMD` runs a command (git refuses it anyway).
_GIT_FD_OR_EXT = re.compile(r"^(fd|ext)::", re.IGNORECASE)
# The same for the chart's schema, so that `helm install` refuses it too: JSON Schema patterns
# have no flags and RE2 no lookahead, hence the letter classes under a `not`.
_GIT_FD_OR_EXT_SCHEMA: JsonDict = {"not": {"pattern": "^([fF][dD]|[eE][xX][tT])::"}}


def _a_repository(url: str) -> str:
    if _GIT_FD_OR_EXT.match(url):
        raise ValueError(
            f"{clip(url)!r} uses git's {url.split('::')[0]}:: transport, which is no repository address "
            "(fd:: waits on file descriptors, ext:: runs a command); give an https://, ssh:// or git@host: URL, "
            "or a path"
        )
    return url


class GitRepository(Strict):
    url: Annotated[StrictStr, AfterValidator(_a_repository)] = Field(
        min_length=1,
        max_length=2048,
        pattern=_GIT_URL,
        description="Repository to clone: an https://, ssh:// or git@host: URL, or a path (not fd:: or ext::).",
        json_schema_extra=_GIT_FD_OR_EXT_SCHEMA,
    )
    reference: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=256,
        pattern=_GIT_REFERENCE,
        description="Branch, tag or commit; default: the remote's default branch.",
    )
    install: StrictStr | None = Field(
        None,
        min_length=1,
        description="Shell command run inside the clone (or its `subdirectory`), e.g. 'pip install .'.",
    )
    subdirectory: Annotated[StrictStr, AfterValidator(_inside_the_clone)] | None = Field(
        None,
        min_length=1,
        description="Folder inside the clone that holds the code: `install` runs there and it is "
        "put on the import path instead of the clone's root.",
    )


IndexUrl = Annotated[StrictStr, Field(pattern=r"^https?://[^\s/?#]+[^\s]*$")]


# A git clone and pip installs of large packages fit in it; a hung network call does not.
DEFAULT_SETUP_TIMEOUT = 1800


class Setup(Strict):
    """What each worker installs or runs before starting; the launcher and the scheduler
    run the pip, git, python_path and preload parts too (they import the user's code)."""

    script: StrictStr | None = Field(
        None, min_length=1, description="Path of a shell script inside the image, run last."
    )
    git_repository: GitRepository | None = None
    pip_packages: list[Annotated[StrictStr, Field(min_length=1, pattern=_PIP_PACKAGE)]] = Field(
        default_factory=list, description="Requirements for pip, e.g. 'scikit-learn>=1.4'; no options."
    )
    apt_packages: list[Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9+.:=~-]*$")]] = Field(
        default_factory=list, description="Debian package names; installing them needs root."
    )
    python_path: list[Annotated[StrictStr, Field(min_length=1), AfterValidator(_usable_path)]] = Field(
        default_factory=list,
        description="Extra folders to import from in the launcher, the scheduler and every "
        "worker: relative to the git_repository clone, or absolute.",
    )
    preload: list[Annotated[StrictStr, Field(min_length=1), AfterValidator(_usable_preload)]] = Field(
        default_factory=list,
        description="Python run in the launcher, the scheduler and every worker before any task: "
        "a module name, a .py file (relative to the clone, or absolute), or inline "
        "source (text with a space or line break). Dask's --preload.",
    )
    # Private indexes: URLs only; their credentials come from the environment (see credentials.py).
    pip_index_url: IndexUrl | None = Field(
        None, description="Package index replacing PyPI for pip_packages (uv/pip --index-url)."
    )
    pip_extra_index_urls: list[IndexUrl] = Field(
        default_factory=list, description="Further package indexes (uv/pip --extra-index-url)."
    )
    timeout: StrictInt = Field(
        DEFAULT_SETUP_TIMEOUT,
        ge=1,
        le=MAX_WAIT_SECONDS,
        description="Seconds the whole setup of one process (a worker, the scheduler, the launcher) "
        "may take; longer, it is stopped and fails naming this key: a hung git or index fails "
        "the pod instead of holding it.",
    )

    @property
    def empty(self) -> bool:
        return not (
            self.script
            or self.git_repository
            or self.pip_packages
            or self.apt_packages
            or self.python_path
            or self.preload
        )


class WorkerConfig(Strict):
    resources: Resources = Field(default_factory=Resources)
    image: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=512,
        pattern=_IMAGE,
        description="Worker image, e.g. ghcr.io/org/image:1.0; default: the runtime's own image.",
    )
    env: dict[Annotated[StrictStr, Field(pattern=_DNS_LABEL_ENV.pattern)], StrictStr] = Field(
        default_factory=dict,
        description="Environment variables of every worker.",
        # With patternProperties alone, JSON Schema would accept names that do not match.
        json_schema_extra={"additionalProperties": False},
    )
    nthreads: StrictInt | None = Field(
        None, ge=1, le=MAX_THREADS, description="Threads per worker; default: the worker's cpu, at least 1."
    )
    setup: Setup = Field(default_factory=Setup)

    @property
    def threads(self) -> int:
        if self.nthreads is not None:
            return self.nthreads
        cores = self.resources.cpu_cores
        return max(1, math.floor(cores)) if cores else 1


class SchedulerConfig(Strict):
    resources: Resources = Field(default_factory=Resources)


class WorkerRange(Strict):
    """Adaptive scaling; minimum 0 lets the cluster shrink to no workers while idle."""

    minimum: StrictInt = Field(ge=0, le=MAX_WORKERS)
    maximum: StrictInt = Field(ge=1, le=MAX_WORKERS)

    @model_validator(mode="after")
    def _ordered(self) -> WorkerRange:
        if self.minimum > self.maximum:
            raise ValueError(
                f"minimum ({self.minimum}) is greater than maximum ({self.maximum}); swap them or raise maximum"
            )
        return self


def _workers_kind(value: Any) -> str | None:
    # Reads the raw input, before any model exists; once parsed, DaskCluster.adaptive answers.
    if isinstance(value, dict) or isinstance(value, WorkerRange):
        return "range"
    if isinstance(value, int) and not isinstance(value, bool):
        return "count"
    return None


Workers = Annotated[
    Union[
        # A fixed count of 0 would wait for workers forever: at least 1.
        Annotated[Annotated[StrictInt, Field(ge=1, le=MAX_WORKERS)], Tag("count")],
        Annotated[WorkerRange, Tag("range")],
    ],
    Discriminator(
        _workers_kind,
        custom_error_type="workers_type",
        custom_error_message=f"expected an integer from 1 to {MAX_WORKERS} or a mapping {{minimum, maximum}}",
    ),
]


class WaitForWorkers(Strict):
    """When the function starts: once `minimum` workers joined. Workers still coming join the
    running computation; if fewer than `minimum` joined within `timeout`, the run fails (exit 4)
    with the reason their pods are not running."""

    minimum: StrictInt | None = Field(
        None, ge=0, description="Workers that must have joined; default: all of a fixed count, or the adaptive minimum."
    )
    timeout: StrictInt = Field(
        600, ge=1, le=MAX_WAIT_SECONDS, description="Seconds to wait for them (pulling a big image takes a while)."
    )


class DaskCluster(Strict):
    workers: Workers | None = Field(
        None,
        description=f"Fixed count (1 to {MAX_WORKERS}), or {{minimum, maximum}} to adapt "
        f"(minimum may be 0); default {DEFAULT_WORKERS}.",
    )
    wait_for_workers: WaitForWorkers = Field(default_factory=WaitForWorkers)
    worker_config: WorkerConfig = Field(default_factory=WorkerConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    driver: SchedulerConfig = Field(
        default_factory=SchedulerConfig,
        description="The container beside the scheduler that calls your function on Kubernetes "
        "(it holds the returned DataFrame): size it like the function's own process.",
    )
    tls: StrictBool = Field(
        True,
        description="TLS with certificates of this run only, between every Dask process of the run "
        "(scheduler, workers, your function, the launcher): a client without them is refused. "
        "Turn off only where a service mesh already encrypts and authenticates pod traffic.",
    )

    @model_validator(mode="after")
    def _tls_settings_are_ours(self) -> DaskCluster:
        ours = sorted(k for k in self.worker_config.env if k.upper().startswith(run_tls.ENV_PREFIX))
        if self.tls and ours:
            raise ValueError(
                f"worker_config.env sets {', '.join(ours)}: with dask_cluster.tls on, daskrun sets "
                "Dask's comm and TLS settings itself; remove them, or set dask_cluster.tls: false"
            )
        return self

    @model_validator(mode="after")
    def _enough_workers(self) -> DaskCluster:
        wanted = self.wait_for_workers.minimum
        if wanted is not None and wanted > self.max_workers:
            raise ValueError(
                f"wait_for_workers.minimum ({wanted}) is more than the cluster ever has "
                f"({self.max_workers} workers); lower it or raise `workers`"
            )
        return self

    # The answers to "how many workers": callers ask these, never `workers` itself.

    @property
    def adaptive(self) -> bool:
        """Whether the cluster scales between `min_workers` and `max_workers` (a DaskAutoscaler,
        or `adapt()` locally) instead of holding a fixed count."""
        return isinstance(self.workers, WorkerRange)

    @property
    def min_workers(self) -> int:
        """The fewest workers the cluster scales down to: the fixed count, or the range's minimum."""
        if isinstance(self.workers, WorkerRange):
            return self.workers.minimum
        return DEFAULT_WORKERS if self.workers is None else self.workers

    @property
    def max_workers(self) -> int:
        """The most workers the cluster ever has: the fixed count, or the range's maximum."""
        if isinstance(self.workers, WorkerRange):
            return self.workers.maximum
        return self.min_workers

    @property
    def initial_workers(self) -> int:
        """How many workers the cluster starts with (a LocalCluster's n_workers, the DaskCluster's
        replicas); an adaptive one starts at its minimum and its autoscaler takes over."""
        return self.min_workers

    @property
    def workers_to_wait_for(self) -> int:
        """How many workers must have joined before the function starts."""
        if self.wait_for_workers.minimum is not None:
            return self.wait_for_workers.minimum
        return self.min_workers


class Run(Strict):
    function: StrictStr = Field(
        pattern=_FUNCTION.pattern,
        description="Import path of the function: 'package.module.function' or 'package.module:function'.",
    )
    args: dict[StrictStr, Any] = Field(default_factory=dict, description="Keyword arguments passed to the function.")


# S3's rule for new buckets (3-63 characters: lower-case letters, digits, dots, hyphens).
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
# A path character: anything but a control (the strings below reach log lines and file names).
_PATH_CHAR = r"[^\x00-\x1f\x7f]"
_SUFFIX = r"\.([cC][sS][vV]|[pP][aA][rR][qQ][uU][eE][tT])"
# The scheme of an S3 `path`, lower case only as S3 URLs are written: `S3://b/k.csv` is a local
# file (under the directory `S3:/b`). The chart builds its prefix from the name
# (daskrun.contract.config.S3_SCHEME_NAME), which its template text can hold unquoted.
S3_SCHEME_NAME = "s3"
S3_SCHEME = f"{S3_SCHEME_NAME}://"
# The stored file's format, by the path's extension in any case (`_SUFFIX` says the same to the schema).
FORMATS = {".csv": "csv", ".parquet": "parquet"}


def path_format(path: str) -> str | None:
    """'csv' or 'parquet' for a path ending in .csv or .parquet (any case), else None."""
    return FORMATS.get(PurePosixPath(path).suffix.lower())


class Output(Strict):
    path: StrictStr | None = Field(
        None,
        min_length=1,
        max_length=4096,
        # In the schema too, so `helm install` refuses a bad path before anything starts.
        # Python's regex and Go's RE2 (Helm) read these patterns alike: no lookaround.
        pattern=rf"^(s3://{_BUCKET}/)?{_PATH_CHAR}*[^\x00-\x1f\x7f/]{_SUFFIX}$",
        description="Local file (.csv or .parquet), s3://bucket/key, or the key inside `bucket`.",
    )
    bucket: StrictStr | None = Field(
        None, pattern=rf"^{_BUCKET}$", description="S3 bucket; stores at s3://bucket/path."
    )
    key: SecretStr | None = Field(None, description="AWS access key id; default: boto3's credential chain.")
    secret_key: SecretStr | None = Field(None, description="AWS secret access key.")
    endpoint_url: StrictStr | None = Field(
        None, pattern=r"^https?://[!-~]+$", description="S3-compatible endpoint, e.g. http://minio:9000."
    )
    region: StrictStr | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="S3 region.")
    report: StrictBool = Field(
        True,
        description="Also store <name>.report.html (Dask's performance report) and <name>.run.json "
        "(phase timeline, workers over time, tasks, result shape, versions, exit status) "
        "beside the result; false turns both off.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Output:
        if self.path is None:
            raise ValueError("`path` is required when `output` is given; remove `output` to print the result")
        if (self.key is None) != (self.secret_key is None):
            raise ValueError("give both `key` and `secret_key`, or neither to use the default AWS credentials")
        bucket, _, key = self._s3_url_parts
        if self.is_s3_url and not (re.fullmatch(_BUCKET, bucket) and key):
            # s3://bucket.csv, s3://Bad_Bucket/k.csv: the schema (RE2, no lookahead) lets them
            # pass as local .csv names.
            raise ValueError(
                f"an s3:// path needs a bucket and a key, e.g. s3://bucket/runs/result.csv, got {clip(self.path)!r}"
            )
        if self.bucket and self.is_s3_url:
            raise ValueError("give either `bucket` with a key `path`, or an s3:// `path`, not both")
        if not self.is_s3:
            if self.key or self.endpoint_url or self.region:
                raise ValueError("`key`, `secret_key`, `endpoint_url` and `region` need an S3 `bucket` or s3:// `path`")
        if path_format(self.path) is None:
            raise ValueError(f"`path` must end in .csv or .parquet, got {self.path!r}")
        return self

    @property
    def is_s3_url(self) -> bool:
        """Whether `path` is a whole s3://bucket/key (rather than a key inside `bucket`, or a local file)."""
        return (self.path or "").startswith(S3_SCHEME)

    @property
    def _s3_url_parts(self) -> tuple[str, str, str]:
        return (self.path or "")[len(S3_SCHEME) :].partition("/") if self.is_s3_url else ("", "", "")

    @property
    def is_s3(self) -> bool:
        """Whether the result goes to S3: an s3:// `path`, or a key `path` inside `bucket`."""
        return self.bucket is not None or self.is_s3_url

    @property
    def s3_object(self) -> tuple[str, str] | None:
        """(bucket, key) of an S3 output, None for a local one."""
        if not self.is_s3 or self.path is None:
            return None
        if self.bucket:
            return self.bucket, self.path.lstrip("/")
        bucket, _, key = self._s3_url_parts
        return bucket, key

    @property
    def format(self) -> str:
        """'parquet' for a .parquet path (any case), else 'csv': the file the result is stored as."""
        return "parquet" if path_format(self.path or "") == "parquet" else "csv"

    @property
    def is_parquet(self) -> bool:
        return self.format == "parquet"


class Config(Strict):
    run: Run
    dask_cluster: DaskCluster = Field(default_factory=DaskCluster)
    output: Output | None = None

    def public_dict(self) -> dict[str, Any]:
        """The config as plain data, credentials removed (what a ConfigMap or a log may hold)."""
        data = self.model_dump(mode="json", exclude_none=True)
        for secret in ("key", "secret_key"):
            (data.get("output") or {}).pop(secret, None)
        data["run"]["args"] = masked_args(data["run"].get("args") or {})
        return data


def parse_config(data: dict[str, Any], source: str | None = None) -> Config:
    """Validate a config dict (or a chart values dict) and report every problem at once."""
    if not isinstance(data, dict):
        raise ConfigError([("(top level)", NOT_A_MAPPING)], source)
    errors: list[tuple[str, str]] = []
    for key in data:
        if key not in CONFIG_KEYS and key not in chart_keys():
            hint = difflib.get_close_matches(str(key), CONFIG_KEYS, n=1)
            errors.append(
                (
                    str(key),
                    f"unknown key{f'; did you mean {hint[0]!r}?' if hint else ''} "
                    f"(allowed: {', '.join(CONFIG_KEYS)} and the chart's keys)",
                )
            )
    relevant = {k: v for k, v in data.items() if k in CONFIG_KEYS and v is not None}
    errors.extend(credential_errors(relevant))
    try:
        config = Config.model_validate(relevant)
    except ValidationError as exc:
        errors.extend(messages(exc, Config))
        config = None
    if errors:
        raise ConfigError(errors, source)
    assert config is not None
    return config


def load_config(source: str | Path | dict[str, Any] | Config) -> Config:
    """A validated Config from a file path, a dict, or an existing Config."""
    if isinstance(source, Config):
        return source
    if isinstance(source, dict):
        return parse_config(source)
    if not isinstance(source, (str, Path)):
        raise ConfigError([("(top level)", f"{NOT_A_MAPPING}, a Config, or a file path; got {type(source).__name__}")])
    return parse_config(read_config_file(source), str(source))


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of the config keys, for the chart's values.schema.json."""
    schema = Config.model_json_schema(mode="validation")
    return json.loads(json.dumps(schema))
