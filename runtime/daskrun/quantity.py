"""Kubernetes quantities (`4G`, `500Mi`, `0.5`, `100m`): parsing, and the config's field type."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from daskrun.errors import clip

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
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def quantity_value(text: str | int | float) -> float:
    """The number a Kubernetes quantity stands for (bytes for memory, cores for cpu)."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(text)
    number, suffix = float(match["number"]), match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E") and len(suffix) > 1:  # an exponent; a bare E is exa (10^18)
        return number * 10 ** int(suffix[1:])
    return number * _DECIMAL[suffix]


def _check_quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("expected a Kubernetes quantity such as 4G, 500Mi, 2 or 0.5")
    low, high = _NUMBER_RANGE
    if not isinstance(value, str) and not low <= value <= high:
        raise ValueError(
            f"a number here must be positive, from {low:g} to {high:g}, got "
            f"{clip(str(value), 24)}; write e.g. 4G, 500Mi, 2 or 0.5"
        )
    text = str(value)
    if len(text) > _QUANTITY_MAX_LENGTH or not _QUANTITY.match(text):
        raise ValueError(
            f"{clip(text)!r} is not a positive Kubernetes quantity (at most 19 digits, a two-digit "
            "exponent); write e.g. 4G, 500Mi, 2 or 0.5"
        )
    return text


Quantity = Annotated[
    str,
    BeforeValidator(_check_quantity),
    WithJsonSchema(
        {
            "anyOf": [
                # Without named groups: JSON Schema regexes are ECMA 262.
                {
                    "type": "string",
                    "pattern": re.sub(r"\?P<\w+>", "", _QUANTITY.pattern),
                    "maxLength": _QUANTITY_MAX_LENGTH,
                },
                {"type": "number", "minimum": _NUMBER_RANGE[0], "maximum": _NUMBER_RANGE[1]},
            ],
            "description": "A Kubernetes quantity such as 4G, 500Mi, 2 or 0.5.",
        }
    ),
]
