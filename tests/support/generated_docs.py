"""Text that `make docs` regenerates between two marker lines of a committed file."""

from __future__ import annotations


def replace_between(text: str, begin: str, end: str, body: str) -> str:
    """`text` with what stands between the lines `begin` and `end` replaced by `body`."""
    before, found_begin, rest = text.partition(begin)
    _, found_end, after = rest.partition(end)
    if not (found_begin and found_end):
        raise SystemExit(f"missing the lines {begin!r} ... {end!r}")
    return f"{before}{begin}\n{body}\n{end}{after}"
