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
    model_validator,
)

from daskrun import safe_yaml

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
        "credentials",
        "outputVolume",
        "workerRunAsRoot",
        "tests",
    }
)
CONFIG_KEYS = ("run", "dask_cluster", "output")

# Used when `dask_cluster.workers` is absent, locally and on Kubernetes alike.
DEFAULT_WORKERS = 2
# More workers than any run here needs; a typo such as 10000 would otherwise reach `replicas`.
MAX_WORKERS = 1000

# Bounded digits and a two-digit exponent: parsing is instant and never overflows a float,
# and the chart's schema (generated from this pattern) accepts exactly the same strings. A
# non-zero digit is required ("0", "0.0Mi" are refused: resources are positive). No
# lookaround: Helm's schema validator uses Go's RE2.
_QUANTITY = re.compile(
    r"^(?P<number>[0-9]{0,19}[1-9][0-9]{0,19}(?:\.[0-9]{0,19})?|[0-9]{0,19}\.[0-9]{0,19}[1-9][0-9]{0,19})"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]{1,2})?$"
)
_QUANTITY_MAX_LENGTH = 50
# A quantity written as a YAML/JSON number: from 1n to 1E (numbers in this range print in a
# form that _QUANTITY accepts).
_NUMBER_RANGE = (1e-9, 1e18)
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
    low, high = _NUMBER_RANGE
    if not isinstance(value, str) and not low <= value <= high:
        raise ValueError(f"a number here must be positive, from {low:g} to {high:g}, got {_clip(str(value), 24)}; "
                         "write e.g. 4G, 500Mi, 2 or 0.5")
    text = str(value)
    if len(text) > _QUANTITY_MAX_LENGTH or not _QUANTITY.match(text):
        raise ValueError(
            f"{_clip(text)!r} is not a positive Kubernetes quantity (at most 19 digits, a two-digit "
            "exponent); write e.g. 4G, 500Mi, 2 or 0.5"
        )
    return text


def _clip(text: str, limit: int = 60) -> str:
    """A value short enough to quote in a message."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


Quantity = Annotated[
    str,
    BeforeValidator(_check_quantity),
    WithJsonSchema({
        "anyOf": [
            # Without named groups: JSON Schema regexes are ECMA 262.
            {"type": "string", "pattern": re.sub(r"\?P<\w+>", "", _QUANTITY.pattern),
             "maxLength": _QUANTITY_MAX_LENGTH},
            {"type": "number", "minimum": _NUMBER_RANGE[0], "maximum": _NUMBER_RANGE[1]},
        ],
        "description": "A Kubernetes quantity such as 4G, 500Mi, 2 or 0.5.",
    }),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Resources(_Strict):
    """Requests and limits of one container; also sizes the worker's threads and memory limit."""

    memory: Quantity | None = Field(None, description="Memory, e.g. 4G or 500Mi.")
    cpu: Quantity | None = Field(None, description="CPU cores, e.g. 2 or 0.5.")

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory is None else int(quantity_value(self.memory))

    @property
    def cpu_cores(self) -> float | None:
        return None if self.cpu is None else quantity_value(self.cpu)

    def kubernetes(self) -> dict[str, dict[str, str]]:
        """Requests equal to limits, so the pod gets exactly what the config asks for."""
        amounts = {k: v for k, v in (("memory", self.memory), ("cpu", self.cpu)) if v is not None}
        return {"requests": dict(amounts), "limits": dict(amounts)} if amounts else {}


# Not starting with '-' (git would read an option) or a space, no control characters; a
# reference holds no space either (git check-ref-format), a local path may.
_GIT_URL = r"^[^\s\x00-\x1f\x7f-][^\x00-\x1f\x7f]*$"
_GIT_REFERENCE = r"^[^\s\x00-\x1f\x7f-][^\s\x00-\x1f\x7f]*$"
# The distribution reference grammar (docker/distribution reference/regexp.go), without IPv6.
_IMAGE_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?"
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = (
    rf"^(?:{_IMAGE_DOMAIN}/)?{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
# Pip options are not allowed among the packages; an index has its own keys.
_PIP_PACKAGE = r"^[^-\s]"
PIP_INDEX_KEYS = ("pip_index_url", "pip_extra_index_urls")


class GitRepository(_Strict):
    url: StrictStr = Field(min_length=1, max_length=2048, pattern=_GIT_URL,
                           description="Repository to clone.")
    reference: StrictStr | None = Field(
        None, min_length=1, max_length=256, pattern=_GIT_REFERENCE,
        description="Branch, tag or commit; default: the remote's default branch.",
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
    pip_packages: list[Annotated[StrictStr, Field(min_length=1, pattern=_PIP_PACKAGE)]] = Field(
        default_factory=list, description="Requirements for pip, e.g. 'scikit-learn>=1.4'; no options."
    )
    apt_packages: list[Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9+.:=~-]*$")]] = Field(
        default_factory=list, description="Debian package names; installing them needs root."
    )

    @property
    def empty(self) -> bool:
        return not (self.script or self.git_repository or self.pip_packages or self.apt_packages)


class WorkerConfig(_Strict):
    resources: Resources = Field(default_factory=Resources)
    image: StrictStr | None = Field(
        None, min_length=1, max_length=512, pattern=_IMAGE,
        description="Worker image, e.g. ghcr.io/org/image:1.0; default: the runtime's own image.",
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
    """Adaptive scaling; minimum 0 lets the cluster shrink to no workers while idle."""

    minimum: StrictInt = Field(ge=0, le=MAX_WORKERS)
    maximum: StrictInt = Field(ge=1, le=MAX_WORKERS)

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


class DaskCluster(_Strict):
    workers: Workers | None = Field(
        None,
        description=f"Fixed count (1 to {MAX_WORKERS}), or {{minimum, maximum}} to adapt "
                    f"(minimum may be 0); default {DEFAULT_WORKERS}.",
    )
    worker_config: WorkerConfig = Field(default_factory=WorkerConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)

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
        max_length=4096,
        # In the schema too, so `helm install` refuses a bad path before anything starts.
        pattern=r"^(s3://[^/]+/.+|.*\.([cC][sS][vV]|[pP][aA][rR][qQ][uU][eE][tT]))$",
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
        if self.path.startswith("s3://") and not all(self.path[len("s3://"):].partition("/")[::2]):
            # s3://bucket.csv: the schema (RE2, no lookahead) lets it pass as a local .csv name.
            raise ValueError(f"an s3:// path needs a bucket and a key, e.g. s3://bucket/runs/result.csv, "
                             f"got {_clip(self.path)!r}")
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
        if item in ("count", "range", "function-after[_ordered(), WorkerRange]"):
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


def _credential_keys() -> frozenset[str]:
    """Keys whose values are secrets: a message may name them, never quote their value."""
    return frozenset(name for name, field in Output.model_fields.items()
                     if SecretStr in getattr(field.annotation, "__args__", (field.annotation,)))


_PATTERN_MESSAGES = {
    "function": lambda value: "expected an import path like 'package.module.function' or 'package.module:function'",
    "path": lambda value: (
        f"an s3:// path needs a bucket and a key, e.g. s3://bucket/runs/result.csv, got {_clip(value)!r}"
        if value.startswith("s3://")
        else f"must end in .csv or .parquet (or be s3://bucket/key), got {_clip(value)!r}"
    ),
    "url": lambda value: f"{_clip(value)!r} must not start with '-' (git would read an option) "
                         "or a space, nor hold control characters",
    "reference": lambda value: f"{_clip(value)!r} must not start with '-' (git would read an option) "
                               "nor hold whitespace or control characters; give a branch, tag or commit",
    "image": lambda value: f"{_clip(value)!r} is not an image reference; write e.g. "
                           "ghcr.io/team/image:1.0 (lower-case name, optional :tag and @sha256:digest)",
    "endpoint_url": lambda value: f"expected an http:// or https:// URL, got {_clip(value)!r}",
}


def _message(error: dict[str, Any], model_fields: dict[str, Any]) -> str:
    kind = error["type"]
    if error["loc"] and error["loc"][-1] in _credential_keys():
        return _MESSAGES.get(kind, error["msg"]) + " (the value is not shown: it is a credential)"
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        allowed = sorted(model_fields)
        hint = difflib.get_close_matches(name, allowed, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"unknown key{suggestion} (allowed here: {', '.join(allowed)})"
    if kind == "string_pattern_mismatch" and "env" in error["loc"]:
        return "environment variable names are letters, digits and '_', not starting with a digit"
    if kind == "string_pattern_mismatch" and "apt_packages" in error["loc"]:
        return "expected a Debian package name (lower case, digits, + - . : = ~)"
    if kind == "string_pattern_mismatch" and "pip_packages" in error["loc"]:
        index_keys = " / ".join(f"dask_cluster.worker_config.setup.{key}" for key in PIP_INDEX_KEYS)
        return (f"{_clip(error['input'])!r}: pip options are not allowed in pip_packages (and a "
                f"requirement does not start with '-' or a space); set a package index with {index_keys}")
    if kind == "string_pattern_mismatch" and error["loc"][-1] in _PATTERN_MESSAGES:
        return _PATTERN_MESSAGES[error["loc"][-1]](error["input"])
    if kind == "string_too_long":
        return f"at most {error['ctx']['max_length']} characters, got {len(error['input'])}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "greater_than_equal" and error["loc"][-2:] == ("workers", "count"):
        return (f"a fixed count must be >= 1 (with 0 the run would wait for workers forever), got "
                f"{error['input']!r}; to let an adaptive cluster shrink to none, use {{minimum: 0, maximum: N}}")
    if kind == "greater_than_equal":
        return f"must be >= {error['ctx']['ge']}, got {error['input']!r}"
    if kind == "less_than_equal":
        return f"must be <= {error['ctx']['le']}, got {error['input']!r}"
    return _MESSAGES.get(kind, error["msg"]) + (
        f", got {type(error['input']).__name__} {_clip(repr(error['input']))}"
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


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or JSON file into a dict, with errors that name the file."""
    path = Path(path)
    try:
        if path.stat().st_size > safe_yaml.MAX_BYTES:
            raise ConfigError([("(file)", f"larger than {safe_yaml.MAX_BYTES} bytes; pass large "
                                          "inputs as a file or URL the function reads")], str(path))
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([("(file)", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([("(file)", f"not UTF-8 text (byte {exc.start}): save it as UTF-8")], str(path)) from None
    try:
        data = safe_yaml.load(text)
    except safe_yaml.YamlLimitError as exc:
        raise ConfigError([("(file)", str(exc))], str(path)) from None
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. an int of 5000 digits
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
    if not isinstance(source, (str, Path)):
        raise ConfigError([("(top level)", "expected a mapping with `run`, `dask_cluster`, `output`, "
                                           f"a Config, or a file path; got {type(source).__name__}")])
    return parse_config(read_config_file(source), str(source))


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of the config keys, for the chart's values.schema.json."""
    schema = Config.model_json_schema(mode="validation")
    return json.loads(json.dumps(schema))


