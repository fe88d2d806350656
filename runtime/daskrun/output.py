"""Store the result (local CSV/Parquet or S3), or print it so that it can be recovered."""

from __future__ import annotations

import csv
import io
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import TextIO

import pandas as pd

from daskrun.config import Output
from daskrun.result_block import RecoverError, block_lines, encode_text, recover, recover_block

__all__ = ["RecoverError", "StoreError", "print_result", "recover", "recover_block", "store"]

log = logging.getLogger(__name__)


class StoreError(Exception):
    pass


def to_csv_text(df: pd.DataFrame) -> str:
    # A RangeIndex carries no information; any other index (e.g. challenge names) does.
    keep_index = not isinstance(df.index, pd.RangeIndex)
    text = df.to_csv(index=keep_index, lineterminator="\n")
    if "\r" in text:
        # The csv writer quotes only the characters of its line terminator, and every CSV
        # reader ends a row at a bare \r: quote every field, so each \r stays inside one.
        text = df.to_csv(index=keep_index, lineterminator="\n", quoting=csv.QUOTE_ALL)
    return text


def result_format(output: Output | None) -> str:
    """The file format the result is stored in: parquet for a .parquet path, else csv."""
    if output is not None and Path(output.path or "").suffix.lower() == ".parquet":
        return "parquet"
    return "csv"


def serialise(df: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "parquet":
        buffer = io.BytesIO()
        df.to_parquet(buffer)
        return buffer.getvalue()
    return encode_text(to_csv_text(df))


def s3_location(output: Output) -> tuple[str, str]:
    assert output.path is not None  # the model requires a path with `output`
    if output.bucket:
        return output.bucket, output.path.lstrip("/")
    bucket, _, key = output.path[len("s3://") :].partition("/")
    if not bucket or not key:
        raise StoreError(f"output.path {output.path!r} must look like s3://bucket/key")
    return bucket, key


def _write_local(data: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename in the same directory, so a reader never sees half a file. Created
    # with mode 0666 like any open(): the umask decides, as with pandas.to_csv.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_s3(data: bytes, output: Output) -> str:
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
    return f"s3://{bucket}/{key}"


def store(df: pd.DataFrame, output: Output) -> str:
    """Write the result where `output` says; return where it went, or raise StoreError."""
    assert output.path is not None  # the model requires a path with `output`
    try:
        data = serialise(df, result_format(output))
    except Exception as exc:  # noqa: BLE001 - any failure to store must fall back to the log, never lose data
        raise StoreError(f"{type(exc).__name__}: {exc}") from exc
    return store_bytes(data, output)


def store_bytes(data: bytes, output: Output) -> str:
    """Write `data` at `output.path` (local or S3); return where it went, or raise StoreError."""
    try:
        if output.is_s3:
            return _write_s3(data, output)
        path = Path(output.path or "")
        _write_local(data, path)
        return str(path.resolve())
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
    """
    stream = stream or sys.stdout
    try:
        payload = serialise(df, fmt)
    except Exception as exc:  # noqa: BLE001 -- e.g. no pyarrow, or an object column Parquet cannot hold
        log.error("cannot write the result as %s (%s: %s); printing it as CSV", fmt, type(exc).__name__, exc)
        fmt, payload = "csv", serialise(df, "csv")
    lines = block_lines(payload, fmt, len(df), getattr(stream, "encoding", None) or "utf-8")
    stream.write("\n".join(lines) + "\n")
    stream.flush()
