"""Store the result (local CSV/Parquet or S3), or print it so that it can be recovered."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import pandas as pd

from daskrun.config import Output

log = logging.getLogger(__name__)

BEGIN = "----- BEGIN DASKRUN RESULT (csv) -----"
END = "----- END DASKRUN RESULT"
# Every result line carries this prefix, so a log line printed by another thread in the
# middle of the block is recognised and skipped by `daskrun recover`.
PREFIX = "daskrun-result| "


class StoreError(Exception):
    pass


class RecoverError(Exception):
    pass


def to_csv_text(df: pd.DataFrame) -> str:
    # A RangeIndex carries no information; any other index (e.g. challenge names) does.
    keep_index = not isinstance(df.index, pd.RangeIndex)
    return df.to_csv(index=keep_index, lineterminator="\n")


def _serialise(df: pd.DataFrame, suffix: str) -> bytes:
    if suffix == ".parquet":
        buffer = io.BytesIO()
        df.to_parquet(buffer)
        return buffer.getvalue()
    return to_csv_text(df).encode()


def s3_location(output: Output) -> tuple[str, str]:
    assert output.path is not None  # the model requires a path with `output`
    if output.bucket:
        return output.bucket, output.path.lstrip("/")
    bucket, _, key = output.path[len("s3://"):].partition("/")
    if not bucket or not key:
        raise StoreError(f"output.path {output.path!r} must look like s3://bucket/key")
    return bucket, key


def _write_local(data: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename in the same directory, so a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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
    suffix = Path(output.path).suffix.lower()
    try:
        data = _serialise(df, suffix)
        if output.is_s3:
            return _write_s3(data, output)
        path = Path(output.path)
        _write_local(data, path)
        return str(path.resolve())
    except StoreError:
        raise
    except Exception as exc:  # any failure to store must fall back to the log, never lose data
        raise StoreError(f"{type(exc).__name__}: {exc}") from exc


def print_result(df: pd.DataFrame, stream: TextIO | None = None) -> None:
    """Print the whole result as CSV between markers that `recover` understands."""
    stream = stream or sys.stdout
    text = to_csv_text(df)
    digest = hashlib.sha256(text.encode()).hexdigest()
    lines = [BEGIN]
    lines += [PREFIX + line for line in text.splitlines()]
    lines.append(f"{END} rows={len(df)} sha256={digest} -----")
    stream.write("\n".join(lines) + "\n")
    stream.flush()


def recover(log_text: str) -> str:
    """The CSV of the last complete result block in a log, checked against its sha256."""
    lines = log_text.splitlines()
    begin = max((i for i, line in enumerate(lines) if line.endswith(BEGIN)), default=None)
    if begin is None:
        raise RecoverError("no result block found (looked for the line '" + BEGIN + "')")
    body: list[str] = []
    expected = None
    for line in lines[begin + 1:]:
        if END in line:
            expected = line.split("sha256=", 1)[-1].split()[0]
            break
        # `kubectl logs --timestamps` puts a timestamp before each line: cut at the prefix.
        position = line.find(PREFIX)
        if position >= 0:
            body.append(line[position + len(PREFIX):])
    if expected is None:
        raise RecoverError("the result block is cut off: its end marker is missing")
    text = "\n".join(body) + "\n"
    actual = hashlib.sha256(text.encode()).hexdigest()
    if actual != expected:
        raise RecoverError(f"the result block is damaged: sha256 {actual} != {expected} from the log")
    return text
