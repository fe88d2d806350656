"""The setup script's shell text: the files in daskrun/shell/, and the prologue that fills them.

daskrun.bootstrap builds each pod's (and the launcher's) setup script from pieces, one file
each, written as plain POSIX sh so that shellcheck reads them (`make lint`; the unit tests
check the files and whole generated scripts). Python gives a piece its values in one way
only: shell variables, assigned at the top of the script by a prologue of `name=value` lines
with each value quoted by shlex.quote. The files hold no template syntax and nothing in them
is ever replaced, so what shellcheck reads is what the shell runs.

Shellcheck reads each file alone, where a variable that the prologue or an earlier piece
assigns is not: a file's header names the variables it takes and turns SC2154 (referenced but
not assigned) off for the file, and SC2034 (unused) where it sets one a later piece reads.
Whole scripts are checked with both on, so a value the prologue lacks, or one no piece uses,
is still found.

A file's header, its leading comment lines, is for readers and shellcheck and is left out of
the script. A `#!` line before it stays: it heads a program that the script writes to a file
(git_askpass.sh, pip_shim.sh).
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping
from importlib import resources

# The values are literal text: shlex.quote's single quotes keep any `$` or backtick in them
# (a program's source, a config value) from being expanded. At the top of the script, the
# directive holds for the whole of it; the files themselves are checked with SC2016 on.
_PROLOGUE_HEAD = "# shellcheck disable=SC2016 # the quoted words are literal text (daskrun.shell_pieces)"

# Named as the pieces' own variables are: lower case and prefixed, so never a variable of the
# environment, which every command of the setup would then see.
_NAME = re.compile(r"daskrun_[a-z0-9_]+")


@functools.cache
def source(name: str) -> str:
    """The text of daskrun/shell/<name>.sh without its header."""
    lines = resources.files("daskrun").joinpath("shell", f"{name}.sh").read_text().splitlines(keepends=True)
    kept = lines[:1] if lines and lines[0].startswith("#!") else []
    rest = lines[len(kept) :]
    start = next((index for index, line in enumerate(rest) if not line.startswith("#")), len(rest))
    return "".join(kept + rest[start:])


def prologue(values: Mapping[str, str]) -> str:
    """The lines that assign the pieces' values, each quoted as a single shell word."""
    lines = [_PROLOGUE_HEAD]
    for name, value in values.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a prologue variable's name (daskrun_ and lower case)")
        lines.append(f"{name}={shlex.quote(value)}")
    return "\n".join(lines)
