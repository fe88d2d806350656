"""Store the result (local CSV/Parquet or S3), or print it so that it can be recovered."""

from __future__ import annotations

import csv
import io
import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TextIO

import pandas as pd
from pandas.api import types as dtypes

from daskrun.atomic_file import write_atomically
from daskrun.config import Output
from daskrun.result_block import CsvBlockWriter, CsvRecords, ParquetBlockWriter, encode_text, parquet_rows

log = logging.getLogger(__name__)

# Bytes handed on at once when copying a file that is already whole (Parquet into the log).
_CHUNK = 1 << 20


class StoreError(Exception):
    pass


class _CarriageReturnFound(Exception):
    pass


class _CarriageReturnFinder(io.TextIOBase):
    """A text file that stops the writer at the first \r written to it."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if "\r" in text:
            raise _CarriageReturnFound
        return len(text)


def _never_holds_text(dtype: object) -> bool:
    """Whether pandas writes every value of this dtype as a number, date or duration."""
    return bool(
        dtypes.is_numeric_dtype(dtype)
        or dtypes.is_bool_dtype(dtype)
        or dtypes.is_datetime64_any_dtype(dtype)
        or dtypes.is_timedelta64_dtype(dtype)
    )


def _csv_holds_carriage_return(df: pd.DataFrame, keep_index: bool) -> bool:
    """Whether the CSV text of `df` holds a \r, found without writing all of it: in the header,
    in a string column's values (pandas writes them as they are), or in the fields of the
    index and of the other columns that can hold text, written on their own (pandas writes
    each of their values alone, so they read the same without the other columns)."""
    if "\r" in df.iloc[:0].to_csv(index=keep_index, lineterminator="\n"):
        return True
    others = []
    for position, dtype in enumerate(df.dtypes):
        if isinstance(dtype, pd.StringDtype):
            if df.iloc[:, position].str.contains("\r", regex=False).any():
                return True
        elif not _never_holds_text(dtype):
            others.append(position)
    if not others and not keep_index:
        return False
    try:
        df.iloc[:, others].to_csv(_CarriageReturnFinder(), index=keep_index, header=False, lineterminator="\n")
    except _CarriageReturnFound:
        return True
    return False


def keeps_index(df: pd.DataFrame) -> bool:
    """Whether the CSV has the row labels: all but the unnamed 0..n-1 a reader makes anyway.
    A sliced frame (`df.iloc[5:]`, `df.iloc[::3]`) or a named RangeIndex says something."""
    index = df.index
    unnamed_default = isinstance(index, pd.RangeIndex) and index.name is None
    return not (unnamed_default and index.start == 0 and (index.step == 1 or len(index) <= 1))


def header_lines(df: pd.DataFrame) -> int:
    """How many records the header of `write_csv`'s text takes: one, or under a MultiIndex of
    columns one a level and maybe one of the row labels' names. Counted from pandas' own header
    (the text of no rows), since which frames get the names' line is pandas' rule, not ours."""
    records = CsvRecords()
    records.add(encode_text(df.iloc[:0].to_csv(index=keeps_index(df), lineterminator="\n")))
    return records.count()


def write_csv(df: pd.DataFrame, handle: TextIO | io.TextIOBase) -> None:
    """Write the CSV text of `df` to `handle` as pandas produces it, a chunk of rows at a time."""
    keep_index = keeps_index(df)
    # The csv writer quotes only the characters of its line terminator, and every CSV reader
    # ends a row at a bare \r: then every field is quoted, so each \r stays inside one. Decided
    # before the first byte is written, since the text is written as it is made.
    quoting = csv.QUOTE_ALL if _csv_holds_carriage_return(df, keep_index) else csv.QUOTE_MINIMAL
    df.to_csv(handle, index=keep_index, lineterminator="\n", quoting=quoting)


def to_csv_text(df: pd.DataFrame) -> str:
    buffer = io.StringIO()
    write_csv(df, buffer)
    return buffer.getvalue()


def result_format(output: Output | None) -> str:
    """The file format the result is stored in (Output.format); without an output, the
    printed block's: csv."""
    return "csv" if output is None else output.format


def serialise_into(df: pd.DataFrame, fmt: str, handle: BinaryIO) -> None:
    """Write the file's bytes to `handle` as they are made: never the whole text in memory."""
    if fmt == "parquet":
        df.to_parquet(handle)
        return
    # The bytes of `encode_text(to_csv_text(df))`, encoded a few KiB at a time.
    text = io.TextIOWrapper(handle, encoding="utf-8", errors="surrogatepass", newline="")
    try:
        write_csv(df, text)
        text.flush()
    finally:
        text.detach()


def serialise(df: pd.DataFrame, fmt: str) -> bytes:
    buffer = io.BytesIO()
    serialise_into(df, fmt, buffer)
    return buffer.getvalue()


def s3_location(output: Output) -> tuple[str, str]:
    assert output.path is not None  # the model requires a path with `output`
    location = output.s3_object
    if location is None or not all(location):
        raise StoreError(f"output.path {output.path!r} must look like s3://bucket/key")
    return location


def _write_local(write: Callable[[BinaryIO], object], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(write, path)


def _write_s3(data: bytes | BinaryIO, output: Output) -> str:
    import boto3
    from botocore.config import Config as BotoConfig

    bucket, key = s3_location(output)
    kwargs = {}
    if output.key is not None and output.secret_key is not None:
        kwargs = {
            "aws_access_key_id": output.key.get_secret_value(),
            "aws_secret_access_key": output.secret_key.get_secret_value(),
        }
    client = boto3.client(
        "s3",
        endpoint_url=output.endpoint_url,
        region_name=output.region,
        config=BotoConfig(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=10),
        **kwargs,
    )
    client.put_object(Bucket=bucket, Key=key, Body=data)
    return location(output)


def location(output: Output) -> str:
    """Where a file stored at `output` is: its absolute path, or s3://bucket/key."""
    if output.is_s3:
        bucket, key = s3_location(output)
        return f"s3://{bucket}/{key}"
    return str(Path(output.path or "").resolve())


def store(df: pd.DataFrame, output: Output) -> str:
    """Write the result where `output` says; return where it went, or raise StoreError.

    A local file is written as it is made; for S3 the file is made in memory first (one copy
    of its bytes, handed to boto3 as a file, which reads it in parts)."""
    assert output.path is not None  # the model requires a path with `output`
    fmt = result_format(output)
    if not output.is_s3:
        return _store_local(lambda handle: serialise_into(df, fmt, handle), output)
    body = io.BytesIO()
    try:
        serialise_into(df, fmt, body)
    except Exception as exc:  # noqa: BLE001 - any failure to store must fall back to the log, never lose data
        raise StoreError(f"{type(exc).__name__}: {exc}") from exc
    body.seek(0)
    return store_bytes(body, output)


def _store_local(write: Callable[[BinaryIO], object], output: Output) -> str:
    path = Path(output.path or "")
    try:
        _write_local(write, path)
    except Exception as exc:  # noqa: BLE001 - any failure to store must fall back to the log, never lose data
        raise StoreError(f"{type(exc).__name__}: {exc}") from exc
    return location(output)


def store_bytes(data: bytes | BinaryIO, output: Output) -> str:
    """Write `data` (bytes, or a file read from its position) at `output.path` (local or S3);
    return where it went, or raise StoreError."""
    if not output.is_s3:
        write = (
            (lambda handle: handle.write(data))
            if isinstance(data, bytes)
            else (lambda handle: shutil.copyfileobj(data, handle))
        )
        return _store_local(write, output)
    try:
        return _write_s3(data, output)
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(f"{type(exc).__name__}: {exc}") from exc


def beside(output: Output, suffix: str) -> Output:
    """The same store, at the result's path with its extension replaced by `suffix`."""
    path = output.path or ""
    head, _, name = path.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return output.model_copy(update={"path": f"{head}/{stem}{suffix}" if head else f"{stem}{suffix}"})


def print_result(df: pd.DataFrame, stream: TextIO | None = None, fmt: str = "csv") -> None:
    """Print the whole result as a block that `daskrun recover` turns back into the file.

    In `fmt` (the configured output's format) when the result can be written so, else as CSV.
    The CSV block is printed while the CSV is written; a Parquet file is made whole first
    (its writer converts the whole table anyway), then printed a MiB at a time.
    """
    stream = stream or sys.stdout
    if fmt == "parquet":
        buffer = io.BytesIO()
        try:
            serialise_into(df, "parquet", buffer)
            # The rows the file holds: a frame of no columns is a Parquet file of none (README).
            with buffer.getbuffer() as whole:
                rows = parquet_rows(whole)
            if rows is None or rows < 0:  # None: fastparquet wrote it, and no pyarrow reads the count
                raise ValueError("pyarrow cannot read its row count back")
        except Exception as exc:  # noqa: BLE001 -- e.g. no pyarrow, or an object column Parquet cannot hold
            log.error("cannot write the result as %s (%s: %s); printing it as CSV", fmt, type(exc).__name__, exc)
        else:
            parquet_block = ParquetBlockWriter(stream)
            with buffer.getbuffer() as view:
                for start in range(0, len(view), _CHUNK):
                    parquet_block.write(view[start : start + _CHUNK])
            parquet_block.end(rows)
            stream.flush()
            return
    csv_block = CsvBlockWriter(stream, getattr(stream, "encoding", None) or "utf-8")
    write_csv(df, csv_block)
    csv_block.end(len(df), header_lines(df))
    stream.flush()
