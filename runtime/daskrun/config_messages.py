"""Pydantic's validation errors as messages that name the config key and the fix.

Matches pydantic's error types and location names (e.g. the tags `count`/`range` of the
`workers` union, validator wrappers in brackets); tests/unit/test_config.py pins the result
for every kind of mistake, so a pydantic upgrade that renames them shows up there.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

_MESSAGES = {
    "int_type": "expected an integer",
    "string_type": "expected a string",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "missing": "required key is missing",
}


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
    if kind == "string_pattern_mismatch" and any(str(p).startswith("pip_") and "index" in str(p) for p in error["loc"]):
        return f"expected an http:// or https:// URL of a package index, got {error['input']!r}"
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
