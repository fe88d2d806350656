"""Kubernetes quantities (`4G`, `500Mi`, `0.5`, `100m`): parsing, and the config's field type."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

_QUANTITY = re.compile(
    r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "P": 1e15, "E": 1e18}


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
