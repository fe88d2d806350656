"""The run's configuration: the seed's ``run`` / ``dask_cluster`` / ``output`` dict, validated.

This model is the single source of truth for the config's shape: the CLI validates
with it, and the chart's ``values.schema.json`` is generated from ``config_json_schema``.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    StrictInt,
    StrictStr,
    Tag,
    ValidationError,
    WithJsonSchema,
    model_serializer,
    model_validator,
)

# Top-level keys of the Helm chart's values that are not part of the run's config.
# A values file of the chart is a valid config file; anything else at the top is a typo.
CHART_KEYS = frozenset(
    {
        "global",
        "image",
        "imagePullSecrets",
        "nameOverride",
        "fullnameOverride",
        "serviceAccount",
        "rbac",
        "controller",
        "job",
        "resources",
        "podSecurityContext",
        "securityContext",
        "podAnnotations",
        "podLabels",
        "nodeSelector",
        "tolerations",
        "affinity",
        "extraEnv",
        "topologySpreadConstraints",
        "priorityClassName",
        "extraVolumes",
        "extraVolumeMounts",
        "daskPods",
        "networkPolicy",
        "credentials",
        "outputVolume",
        "workerRunAsRoot",
        "tests",
    }
)
CONFIG_KEYS = ("run", "dask_cluster", "output")

# Used when `dask_cluster.workers` is absent, locally and on Kubernetes alike.
DEFAULT_WORKERS = 2

_QUANTITY = re.compile(
    r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "P": 1e15, "E": 1e18}
_FUNCTION = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*([.:][A-Za-z_]\w*)$")
_DNS_LABEL_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(Exception):
    """The config is invalid; ``errors`` holds one ``(key_path, message)`` per problem."""

    def __init__(self, errors: list[tuple[str, str]], source: str | None = None):
        self.errors = errors
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        head = f"invalid config{f' in {self.source}' if self.source else ''}:"
        return "\n".join([head] + [f"  {key}: {message}" for key, message in self.errors])


def quantity_value(text: str | int | float) -> float:
    """The number a Kubernetes quantity stands for (bytes for memory, cores for cpu)."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(text)
    number, suffix = float(match["number"]), match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E"):
        return number * 10 ** int(suffix[1:])
    return number * _DECIMAL[suffix]


def _check_quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("expected a Kubernetes quantity such as 4G, 500Mi, 2 or 0.5")
    text = str(value)
    if not _QUANTITY.match(text) or quantity_value(text) <= 0:
        raise ValueError(
            f"{text!r} is not a positive Kubernetes quantity; write e.g. 4G, 500Mi, 2 or 0.5"
        )
    return text


Quantity = Annotated[
    str,
    BeforeValidator(_check_quantity),
    WithJsonSchema({
        "anyOf": [
            # Without named groups: JSON Schema regexes are ECMA 262.
            {"type": "string", "pattern": re.sub(r"\?P<\w+>", "", _QUANTITY.pattern)},
            {"type": "number", "exclusiveMinimum": 0},
        ],
        "description": "A Kubernetes quantity such as 4G, 500Mi, 2 or 0.5.",
    }),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


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


class Resources(_Strict):
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

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory is None else int(quantity_value(self.memory))

    @property
    def cpu_cores(self) -> float | None:
        return None if self.cpu is None else quantity_value(self.cpu)

    def kubernetes(self) -> dict[str, dict[str, str]]:
        """Requests equal to limits, so the pod gets exactly what the config asks for."""
        amounts = {k: v for k, v in (("memory", self.memory), ("cpu", self.cpu),
                                     ("ephemeral-storage", self.ephemeral_storage)) if v is not None}
        amounts.update({k: str(v) for k, v in self.extended.items()})
        return {"requests": dict(amounts), "limits": dict(amounts)} if amounts else {}


class GitRepository(_Strict):
    url: StrictStr = Field(min_length=1, description="Repository to clone.")
    reference: StrictStr | None = Field(
        None, min_length=1, description="Branch, tag or commit; default: the remote's default branch."
    )
    install: StrictStr | None = Field(
        None, min_length=1, description="Shell command run inside the clone, e.g. 'pip install .'."
    )


class Setup(_Strict):
    """What each worker (and the launcher, for pip and git) installs or runs before starting."""

    script: StrictStr | None = Field(
        None, min_length=1, description="Path of a shell script inside the image, run last."
    )
    git_repository: GitRepository | None = None
    pip_packages: list[Annotated[StrictStr, Field(min_length=1)]] = Field(default_factory=list)
    apt_packages: list[Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9+.:=~-]*$")]] = Field(
        default_factory=list, description="Debian package names; installing them needs root."
    )

    @property
    def empty(self) -> bool:
        return not (self.script or self.git_repository or self.pip_packages or self.apt_packages)


class WorkerConfig(_Strict):
    resources: Resources = Field(default_factory=Resources)
    image: StrictStr | None = Field(
        None, min_length=1, description="Worker image; default: the runtime's own image."
    )
    env: dict[Annotated[StrictStr, Field(pattern=_DNS_LABEL_ENV.pattern)], StrictStr] = Field(
        default_factory=dict,
        description="Environment variables of every worker.",
        # With patternProperties alone, JSON Schema would accept names that do not match.
        json_schema_extra={"additionalProperties": False},
    )
    nthreads: StrictInt | None = Field(
        None, ge=1, description="Threads per worker; default: the worker's cpu, at least 1."
    )
    setup: Setup = Field(default_factory=Setup)

    @property
    def threads(self) -> int:
        if self.nthreads is not None:
            return self.nthreads
        cores = self.resources.cpu_cores
        return max(1, math.floor(cores)) if cores else 1


class SchedulerConfig(_Strict):
    resources: Resources = Field(default_factory=Resources)


class WorkerRange(_Strict):
    minimum: StrictInt = Field(ge=0)
    maximum: StrictInt = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "WorkerRange":
        if self.minimum > self.maximum:
            raise ValueError(
                f"minimum ({self.minimum}) is greater than maximum ({self.maximum}); "
                "swap them or raise maximum"
            )
        return self


def _workers_kind(value: Any) -> str | None:
    if isinstance(value, dict) or isinstance(value, WorkerRange):
        return "range"
    if isinstance(value, int) and not isinstance(value, bool):
        return "count"
    return None


Workers = Annotated[
    Union[
        Annotated[Annotated[StrictInt, Field(ge=0)], Tag("count")],
        Annotated[WorkerRange, Tag("range")],
    ],
    Discriminator(
        _workers_kind,
        custom_error_type="workers_type",
        custom_error_message="expected an integer >= 0 or a mapping {minimum, maximum}",
    ),
]


class WaitForWorkers(_Strict):
    """When the function starts: once `minimum` workers joined. Workers still coming join the
    running computation; if fewer than `minimum` joined within `timeout`, the run fails (exit 4)
    with the reason their pods are not running."""

    minimum: StrictInt | None = Field(
        None, ge=0, description="Workers that must have joined; default: all of a fixed count, or the adaptive minimum."
    )
    timeout: StrictInt = Field(600, ge=1, description="Seconds to wait for them (pulling a big image takes a while).")


class DaskCluster(_Strict):
    workers: Workers | None = Field(
        None, description=f"Fixed count, or {{minimum, maximum}} to adapt; default {DEFAULT_WORKERS}."
    )
    wait_for_workers: WaitForWorkers = Field(default_factory=WaitForWorkers)
    worker_config: WorkerConfig = Field(default_factory=WorkerConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)

    @model_validator(mode="after")
    def _enough_workers(self) -> "DaskCluster":
        wanted = self.wait_for_workers.minimum
        most = self.fixed_workers if self.fixed_workers is not None else getattr(self.workers, "maximum", 0)
        if wanted is not None and wanted > most:
            raise ValueError(f"wait_for_workers.minimum ({wanted}) is more than the cluster ever has "
                             f"({most} workers); lower it or raise `workers`")
        return self

    @property
    def workers_to_wait_for(self) -> int:
        """How many workers must have joined before the function starts."""
        if self.wait_for_workers.minimum is not None:
            return self.wait_for_workers.minimum
        if isinstance(self.workers, WorkerRange):
            return self.workers.minimum
        return self.fixed_workers or 0

    @property
    def fixed_workers(self) -> int | None:
        if self.workers is None:
            return DEFAULT_WORKERS
        return self.workers if isinstance(self.workers, int) else None


class Run(_Strict):
    function: StrictStr = Field(
        pattern=_FUNCTION.pattern,
        description="Import path of the function: 'package.module.function' or 'package.module:function'.",
    )
    args: dict[StrictStr, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the function."
    )


class Output(_Strict):
    path: StrictStr | None = Field(
        None,
        min_length=1,
        # In the schema too, so `helm install` refuses a bad path before anything starts.
        pattern=r"^(s3://.+|.*\.([cC][sS][vV]|[pP][aA][rR][qQ][uU][eE][tT]))$",
        description="Local file (.csv or .parquet), s3://bucket/key, or the key inside `bucket`.",
    )
    bucket: StrictStr | None = Field(None, min_length=1, description="S3 bucket; stores at s3://bucket/path.")
    key: SecretStr | None = Field(None, description="AWS access key id; default: boto3's credential chain.")
    secret_key: SecretStr | None = Field(None, description="AWS secret access key.")
    endpoint_url: StrictStr | None = Field(
        None, pattern=r"^https?://", description="S3-compatible endpoint, e.g. http://minio:9000."
    )
    region: StrictStr | None = Field(None, min_length=1, description="S3 region.")

    @model_validator(mode="after")
    def _consistent(self) -> "Output":
        if self.path is None:
            raise ValueError("`path` is required when `output` is given; remove `output` to print the result")
        if (self.key is None) != (self.secret_key is None):
            raise ValueError("give both `key` and `secret_key`, or neither to use the default AWS credentials")
        if self.bucket and self.path.startswith("s3://"):
            raise ValueError("give either `bucket` with a key `path`, or an s3:// `path`, not both")
        if self.bucket is None and not self.path.startswith("s3://"):
            if self.key or self.endpoint_url or self.region:
                raise ValueError("`key`, `secret_key`, `endpoint_url` and `region` need an S3 `bucket` or s3:// `path`")
        if not self.path.startswith("s3://") and Path(self.path).suffix.lower() not in (".csv", ".parquet"):
            raise ValueError(f"`path` must end in .csv or .parquet, got {self.path!r}")
        return self

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None or (self.path or "").startswith("s3://")


class Config(_Strict):
    run: Run
    dask_cluster: DaskCluster = Field(default_factory=DaskCluster)
    output: Output | None = None

    def public_dict(self) -> dict[str, Any]:
        """The config as plain data, credentials removed (what a ConfigMap or a log may hold)."""
        data = self.model_dump(mode="json", exclude_none=True)
        for secret in ("key", "secret_key"):
            (data.get("output") or {}).pop(secret, None)
        return data


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if item in ("count", "range", "function-after[_ordered(), WorkerRange]", "extended"):
            continue
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
        elif isinstance(item, str) and "[" in item and item.endswith("]"):
            continue  # pydantic's name for a validator wrapper, not a key
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


_MESSAGES = {
    "int_type": "expected an integer",
    "string_type": "expected a string",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "missing": "required key is missing",
}


def _message(error: dict[str, Any], model_fields: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        allowed = sorted(field.alias or key for key, field in model_fields.items() if key != "extended")
        hint = difflib.get_close_matches(name, allowed, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        extended = ", or an extended resource such as nvidia.com/gpu" if "extended" in model_fields else ""
        return f"unknown key{suggestion} (allowed here: {', '.join(allowed)}{extended})"
    if kind == "string_pattern_mismatch" and error["loc"][-1] == "function":
        return "expected an import path like 'package.module.function' or 'package.module:function'"
    if kind == "string_pattern_mismatch" and "env" in error["loc"]:
        return "environment variable names are letters, digits and '_', not starting with a digit"
    if kind == "string_pattern_mismatch" and error["loc"][-1] == "path":
        return f"must end in .csv or .parquet (or be s3://bucket/key), got {error['input']!r}"
    if kind == "string_pattern_mismatch" and "apt_packages" in error["loc"]:
        return "expected a Debian package name (lower case, digits, + - . : = ~)"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind in ("greater_than_equal",):
        return f"must be >= {error['ctx']['ge']}, got {error['input']!r}"
    return _MESSAGES.get(kind, error["msg"]) + (
        f", got {type(error['input']).__name__} {error['input']!r}"
        if kind.endswith("_type") and not isinstance(error.get("input"), (dict, list))
        else ""
    )


def _fields_at(loc: tuple[Any, ...]) -> dict[str, Any]:
    """The keys allowed at the parent of `loc`, for 'did you mean' hints."""
    model: Any = Config
    for item in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(item)
        if field is None:
            continue
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
    return getattr(model, "model_fields", {})


def _errors_from(exc: ValidationError) -> list[tuple[str, str]]:
    return [
        (_loc_to_path(error["loc"]), _message(error, _fields_at(error["loc"])))
        for error in exc.errors(include_url=False)
    ]


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader that reads floats as YAML 1.2 (and JSON, and Helm) do: `1e-5` is a number."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or JSON file into a dict, with errors that name the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([("(file)", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    try:
        data = yaml.load(text, Loader=_Yaml12Loader)
    except yaml.YAMLError as exc:
        raise ConfigError([("(file)", f"not valid YAML or JSON: {exc}")], str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError([("(top level)", "expected a mapping with `run`, `dask_cluster`, `output`")], str(path))
    return data


def parse_config(data: dict[str, Any], source: str | None = None) -> Config:
    """Validate a config dict (or a chart values dict) and report every problem at once."""
    if not isinstance(data, dict):
        raise ConfigError([("(top level)", "expected a mapping with `run`, `dask_cluster`, `output`")], source)
    errors: list[tuple[str, str]] = []
    for key in data:
        if key not in CONFIG_KEYS and key not in CHART_KEYS:
            hint = difflib.get_close_matches(str(key), CONFIG_KEYS, n=1)
            errors.append(
                (str(key), f"unknown key{f'; did you mean {hint[0]!r}?' if hint else ''} "
                           f"(allowed: {', '.join(CONFIG_KEYS)} and the chart's keys)")
            )
    relevant = {k: v for k, v in data.items() if k in CONFIG_KEYS and v is not None}
    try:
        config = Config.model_validate(relevant)
    except ValidationError as exc:
        errors.extend(_errors_from(exc))
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
    return parse_config(read_config_file(source), str(source))


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of the config keys, for the chart's values.schema.json."""
    schema = Config.model_json_schema(mode="validation")
    return json.loads(json.dumps(schema))


