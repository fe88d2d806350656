"""`daskrun recover`'s file: the last intact result block of a log, written to a path or a stream."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from daskrun.atomic_file import temp_beside, through_links
from daskrun.result_block import Found, log_lines, read_last_block


def recover_to_file(log_pieces: Iterable[bytes], path: Path) -> Found:
    """Write the file of the log's last intact block at `path`; the log is read piece by piece
    (e.g. a binary file's lines) and each block written to a hidden file beside `path` as it
    is read, the intact one renamed onto `path` at the end.

    Raises RecoverError when no block is intact (before any write error), OSError when
    `path` cannot be written."""
    path = through_links(path)
    live: dict[BinaryIO, Path] = {}
    refused: list[OSError] = []

    def new_sink() -> BinaryIO | None:
        try:
            tmp, handle = temp_beside(path)
        except OSError as exc:  # reported once the log is read: a bad log is named first
            refused.append(exc)
            return None
        live[handle] = tmp
        return handle

    def drop(sink: BinaryIO) -> None:
        sink.close()
        live.pop(sink).unlink(missing_ok=True)

    try:
        found = read_last_block(log_lines(log_pieces), new_sink, drop)
        if found.sink is None:
            raise refused[-1]
        found.sink.close()
        tmp = live.pop(found.sink)
        try:
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return found
    finally:
        for sink in list(live):
            drop(sink)


def recover_to_stream(log_pieces: Iterable[bytes], out: BinaryIO) -> Found:
    """Copy the file of the log's last intact block to `out`, once the whole log was read
    (blocks are kept in temporary files meanwhile). Raises RecoverError."""

    def drop(sink: BinaryIO) -> None:
        sink.close()

    found = read_last_block(log_lines(log_pieces), tempfile.TemporaryFile, drop)
    assert found.sink is not None
    with found.sink:
        found.sink.seek(0)
        shutil.copyfileobj(found.sink, out)
    out.flush()
    return found
