"""Pydantic's validation errors as messages that name the config key and the fix.

Matches pydantic's error types and location names (e.g. the tags `count`/`range` of the
`workers` union, validator wrappers in brackets); tests/unit/test_config.py pins the result
for every kind of mistake, so a pydantic upgrade that renames them shows up there.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from daskrun.errors import clip

_MESSAGES = {
    "int_type": "expected an integer",
    "string_type": "expected a string",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "missing": "required key is missing",
}


# The keys of dask_cluster.worker_config.setup that set a package index (issue 15); a pip
# option among pip_packages is refused with a pointer to them.
PIP_INDEX_KEYS = ("pip_index_url", "pip_extra_index_urls")


def _git_option(value: str) -> str:
    return f"{clip(value)!r} must not start with '-' (git would read an option) or a space"


_PATTERN_MESSAGES = {
    "function": lambda value: "expected an import path like 'package.module.function' or 'package.module:function'",
    # The raw value the pattern refused: no Output exists to ask `is_s3_url`.
    "path": lambda value: (
        f"an s3:// path needs a bucket and a key ending in .csv or .parquet (a bucket name has 3-63 "
        f"of a-z, 0-9, '.' and '-'), e.g. s3://bucket/runs/result.csv, got {clip(value)!r}"
        if value.startswith("s3://")
        else f"must end in .csv or .parquet (or be s3://bucket/key.csv), without control characters, "
        f"got {clip(value)!r}"
    ),
    "bucket": lambda value: (
        f"{clip(value)!r} is not an S3 bucket name: 3-63 characters of a-z, 0-9, '.' and '-', "
        "starting and ending with a letter or digit"
    ),
    "region": lambda value: f"{clip(value)!r} is not a region name like us-east-1 (letters, digits, - _ .)",
    "url": lambda value: _git_option(value) + ", nor hold control characters",
    "reference": lambda value: (
        _git_option(value) + ", nor hold whitespace or control characters; give a branch, tag or commit"
    ),
    "image": lambda value: (
        f"{clip(value)!r} is not an image reference; write e.g. "
        "ghcr.io/team/image:1.0 (lower-case name, optional :tag and @sha256:digest)"
    ),
    "endpoint_url": lambda value: (
        f"expected an http:// or https:// URL without spaces or control characters, got {clip(value)!r}"
    ),
}


def _is_credential(field: Any) -> bool:
    annotation = getattr(field, "annotation", None)
    return SecretStr in getattr(annotation, "__args__", (annotation,))


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


def _message(error: Any, model_fields: dict[str, Any]) -> str:
    kind = error["type"]
    if error["loc"] and _is_credential(model_fields.get(error["loc"][-1])):
        # A message may name a credential's key, never quote its value.
        return _MESSAGES.get(kind, error["msg"]) + " (the value is not shown: it is a credential)"
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        allowed = sorted(field.alias or key for key, field in model_fields.items() if key != "extended")
        hint = difflib.get_close_matches(name, allowed, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        extended = ", or an extended resource such as nvidia.com/gpu" if "extended" in model_fields else ""
        return f"unknown key{suggestion} (allowed here: {', '.join(allowed)}{extended})"
    if kind == "string_pattern_mismatch" and "env" in error["loc"]:
        return "environment variable names are letters, digits and '_', not starting with a digit"
    if kind == "string_pattern_mismatch" and any(str(p).startswith("pip_") and "index" in str(p) for p in error["loc"]):
        return f"expected an http:// or https:// URL of a package index, got {clip(error['input'])!r}"
    if kind == "string_pattern_mismatch" and "apt_packages" in error["loc"]:
        return "expected a Debian package name (lower case, digits, + - . : = ~)"
    if kind == "string_pattern_mismatch" and "pip_packages" in error["loc"]:
        index_keys = " / ".join(f"dask_cluster.worker_config.setup.{key}" for key in PIP_INDEX_KEYS)
        return (
            f"{clip(error['input'])!r}: pip options are not allowed in pip_packages (and a "
            f"requirement does not start with '-' or a space); set a package index with {index_keys}"
        )
    if kind == "string_pattern_mismatch" and error["loc"][-1] in _PATTERN_MESSAGES:
        return _PATTERN_MESSAGES[error["loc"][-1]](error["input"])
    if kind == "string_too_long":
        return f"at most {error['ctx']['max_length']} characters, got {len(error['input'])}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "greater_than_equal" and error["loc"][-2:] == ("workers", "count"):
        return (
            f"a fixed count must be >= 1 (with 0 the run would wait for workers forever), got "
            f"{error['input']!r}; to let an adaptive cluster shrink to none, use {{minimum: 0, maximum: N}}"
        )
    if kind == "greater_than_equal":
        return f"must be >= {error['ctx']['ge']}, got {error['input']!r}"
    if kind == "less_than_equal":
        return f"must be <= {error['ctx']['le']}, got {clip(repr(error['input']))}"
    return _MESSAGES.get(kind, error["msg"]) + (
        f", got {type(error['input']).__name__} {clip(repr(error['input']))}"
        if kind.endswith("_type") and not isinstance(error.get("input"), (dict, list))
        else ""
    )


def _fields_at(root: type[BaseModel], loc: tuple[Any, ...]) -> dict[str, Any]:
    """The keys allowed at the parent of `loc`, for 'did you mean' hints."""
    model: Any = root
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


def messages(exc: ValidationError, root: type[BaseModel]) -> list[tuple[str, str]]:
    """One `(key path, message)` per problem `root.model_validate` found."""
    return [
        (_loc_to_path(error["loc"]), _message(error, _fields_at(root, error["loc"])))
        for error in exc.errors(include_url=False)
    ]
