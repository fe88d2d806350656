"""Plain YAML scalars read as Helm reads them, so one values file means one thing everywhere.

`helm install -f` reads a values file with go-yaml v2 (YAML 1.1 rules of its own) and then
through JSON, where every number becomes a 64-bit float; the chart writes the config for the
pod with Go's JSON encoder, which prints an integral float below 1e21 as an integer. PyYAML's
YAML 1.1 rules differ (`y` is a string to PyYAML and true to Helm; `1:20` is 80 to PyYAML and a
string to Helm; `2026-01-02` a date to PyYAML and a string to Helm; `0o10` a string to PyYAML
and 8 to Helm), so every config file is read here with Helm's rules, locally and in the pod:

- plain scalars resolve as in go-yaml v2's `resolve` (its table of booleans and nulls, Go's
  `strconv.ParseInt(s, 0, 64)` and `ParseFloat` after removing "_"); timestamps and sexagesimal
  numbers stay the text written;
- numbers then become what the pod receives: an integral float below 1e21 is an int (`1.0`,
  `5.`, `1e3`, `-0.0` are 1, 5, 1000, 0).

What the two cannot carry alike is refused, naming the key and the fix (quote it): an integer
beyond 2^53 - 1 (Helm's float would change its digits; the chart refuses them too), `.inf` and
`.nan` (Helm's JSON cannot hold them), and keys that are not strings (Helm turns `on:` into the
key "true").
"""

from __future__ import annotations

import math
import re
from typing import Any

STR = "tag:yaml.org,2002:str"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
MERGE = "tag:yaml.org,2002:merge"
TAGS = (BOOL, NULL, INT, FLOAT)
_TAG_NAMES = {BOOL: "a boolean", NULL: "null", INT: "an integer", FLOAT: "a number"}
DISPUTED_KEY = "tag:daskrun,2026:disputed-key"  # a plain key of one of TAGS

# go-yaml v2's resolve table, word for word.
_WORDS: dict[str, tuple[str, Any]] = {
    **{word: (BOOL, True) for word in ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")},
    **{word: (BOOL, False) for word in ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")},
    **{word: (NULL, None) for word in ("", "~", "null", "Null", "NULL")},
    **{word: (FLOAT, math.nan) for word in (".nan", ".NaN", ".NAN")},
    **{word: (FLOAT, math.inf) for word in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{word: (FLOAT, -math.inf) for word in ("-.inf", "-.Inf", "-.INF")},
    "<<": (MERGE, "<<"),
}
# Go's ParseInt with base 0: a sign, then 0x/0o/0b and digits, a leading 0 for octal, or decimal.
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_BASES = {"x": 16, "o": 8, "b": 2}
# go-yaml v2's yamlStyleFloat, the gate before Go's ParseFloat.
_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
# A leading dot skips go-yaml's underscore removal: Go's ParseFloat reads the text itself,
# which allows an underscore between two digits (Go's float literal syntax: `.0_5` is 0.05).
_GO_FLOAT_AFTER_DOT = re.compile(r"\.[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+(?:_[0-9]+)*)?")
_MAX_DIGITS = 4000
# The largest integer that no other reads as after a 64-bit float (2^53 is also 2^53 + 1).
_EXACT = 2**53 - 1
_AS_INTEGER_BELOW = 1e21  # Go's JSON encoder prints smaller integral floats without an exponent


class DisputedValue(ValueError):
    """A value Helm would change or refuse; `path` names it (dotted keys, [index])."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


def _go_int(text: str) -> int | None:
    if not _GO_INT.fullmatch(text):
        return None
    sign = -1 if text[0] == "-" else 1
    digits = text.lstrip("+-")
    if len(digits.lstrip("0")) > _MAX_DIGITS:  # Python's limit on the digits of an int
        return sign * 10**_MAX_DIGITS
    if len(digits) > 1 and digits[0] == "0":
        base = _GO_BASES.get(digits[1].lower(), 8)
        number = int(digits[2:] if base != 8 or digits[1] in "oO" else digits[1:], base)
    else:
        number = int(digits)
    # Beyond int64 and uint64 go-yaml reads a float, and Helm makes every number one: either
    # way the digits change, which `as_helm_numbers` refuses for any integer beyond 2^53.
    return number * sign


def _go_float(text: str) -> float | None:
    value = float(text)
    return None if math.isinf(value) else value  # Go's ParseFloat fails out of range


def _resolve(text: str) -> tuple[str, Any]:
    if text in _WORDS:
        return _WORDS[text]
    if text[0] == ".":
        if _GO_FLOAT_AFTER_DOT.fullmatch(text):
            value = _go_float(text.replace("_", ""))
            if value is not None:
                return FLOAT, value
        return STR, text
    if text[0] in "+-0123456789":
        plain = text.replace("_", "")
        number = _go_int(plain)
        if number is not None:
            return INT, number
        if _YAML_FLOAT.fullmatch(plain):
            value = _go_float(plain)
            if value is not None:
                return FLOAT, value
    return STR, text


def tag_of(text: str) -> str:
    """The tag of a plain (unquoted, untagged) scalar."""
    return _resolve(text)[0]


def value_of(tag: str, text: str) -> Any:
    """The value of a scalar of `tag` (resolved by `tag_of`, or written as `!!int` etc.)."""
    resolved_tag, value = _resolve(text) if text else (NULL, None)
    if resolved_tag == tag:
        return value
    if tag == NULL:
        return None
    raise DisputedValue("(value)", f"{text[:80]!r} is not a valid {tag.rsplit(':', 1)[-1]}")


class DisputedKey(str):
    """A plain mapping key that Helm reads as a boolean, null or number (`n:` is the key
    "false"), kept as its text until `as_helm_numbers` refuses it with its path."""

    line: int

    def __new__(cls, text: str, line: int) -> DisputedKey:
        key = super().__new__(cls, text)
        key.line = line
        return key


def key_tag(text: str) -> str:
    """The tag of a plain key of one of TAGS: a string where Helm keeps its text (`1:`,
    `true:`), else DISPUTED_KEY (`n:` is the key "false", `010:` the key "8")."""
    tag, value = _resolve(text)
    return STR if tag != FLOAT and _helm_key(value) == text else DISPUTED_KEY


def _number(path: str, value: int | float) -> int | float:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise DisputedValue(
                path, f"{value} cannot pass through Helm (its JSON has no {value}); quote it for a string"
            )
        if not value.is_integer() or abs(value) >= _AS_INTEGER_BELOW:
            return value
        if abs(value) <= _EXACT:
            return int(value)
    elif abs(value) <= _EXACT:
        return value
    # Helm's float keeps only some integers from 2^53 on, and the chart cannot tell which
    # digits the file held, so it refuses them all (daskrun.exactNumbers); so does this.
    size = abs(int(value))
    digits = str(size) if size < 10**40 else f"a number of {len(str(size))} digits"
    if size >= 10**_MAX_DIGITS:
        digits = f"a number of more than {_MAX_DIGITS} digits"
    raise DisputedValue(
        path,
        f"{digits} is an integer beyond 2^53 - 1 (9007199254740991): Helm reads every number as a 64-bit "
        "float, which would change its digits; quote it to pass the digits as a string",
    )


def as_helm_numbers(data: Any, path: str = "") -> Any:
    """`data` with each number as the pod receives it from Helm; raises DisputedValue."""
    if isinstance(data, bool) or data is None or isinstance(data, str):
        return data
    if isinstance(data, (int, float)):
        return _number(path or "(value)", data)
    if isinstance(data, dict):
        converted = {}
        for key, value in data.items():
            if isinstance(key, DisputedKey):
                tag, helm_value = _resolve(str(key))
                raise DisputedValue(
                    f"{path}.{key}" if path else str(key),
                    f"the key {str(key)!r} (line {key.line}) is the key {_helm_key(helm_value)!r} to Helm, which "
                    f'reads {key} as {_TAG_NAMES[tag]}; quote it ("{key}":) to keep the name',
                )
            if not isinstance(key, str):
                raise DisputedValue(
                    f"{path or '(top level)'}",
                    f"the key {key!r} is not a string (Helm would make it {_helm_key(key)!r}); quote it",
                )
            converted[key] = as_helm_numbers(value, f"{path}.{key}" if path else key)
        return converted
    if isinstance(data, list):
        return [as_helm_numbers(item, f"{path}[{index}]") for index, item in enumerate(data)]
    return data


def _helm_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)
