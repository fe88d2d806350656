"""A file that readers see whole or not at all: written beside its target, renamed onto it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def temp_beside(path: Path) -> tuple[Path, BinaryIO]:
    """A new hidden file in `path`'s directory, open for writing, to be renamed onto `path`.

    Created with mode 0666 like any open(): the umask decides, as with pandas.to_csv."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    return tmp, os.fdopen(fd, "wb")


def through_links(path: Path) -> Path:
    """Where a file written at `path` goes: a symlink's target, which is written (as `cp`
    would), not the link replaced by a file of its own."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def write_atomically(write: Callable[[BinaryIO], object], path: Path) -> None:
    """`write` into a hidden file beside `path`, renamed onto it once whole; removed on failure."""
    # Write then rename in the same directory, so a reader never sees half a file.
    path = through_links(path)
    tmp, handle = temp_beside(path)
    try:
        with handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
