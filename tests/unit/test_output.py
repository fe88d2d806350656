"""Storing results: local files, a real S3 server, and the log fallback with `daskrun recover`."""

import hashlib
import io
import subprocess
import tracemalloc

import boto3
import pandas as pd
import pytest

from daskrun.config import Output
from daskrun.output import StoreError, print_result, serialise, store, to_csv_text
from daskrun.recover_file import recover_to_file, recover_to_stream
from daskrun.result_block import RecoverError, recover, recover_block
from daskrun.runner import MAX_TABLE_ROWS, keep_result
from daskrun.config import load_config
from daskrun.errors import ResultNotStored
from daskrun.result_block import CsvBlockWriter

from cli_runner import run_cli
from servers import free_port


@pytest.fixture
def table():
    return pd.DataFrame({"random": [0.9, 0.8], "grid": [0.85, 0.7]},
                        index=pd.Index(["iris", "wine"], name="challenge"))


def test_bare_filename_is_written_in_the_working_directory(table, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    where = store(table, Output(path="results.csv"))
    assert where == str(tmp_path / "results.csv")
    assert pd.read_csv(tmp_path / "results.csv", index_col=0).equals(table)


def test_parent_directories_are_created_and_no_temp_file_is_left(table, tmp_path):
    path = tmp_path / "a" / "b" / "r.csv"
    store(table, Output(path=str(path)))
    assert path.read_text() == to_csv_text(table)
    assert [p.name for p in path.parent.iterdir()] == ["r.csv"]


def test_parquet(table, tmp_path):
    path = tmp_path / "r.parquet"
    store(table, Output(path=str(path)))
    assert pd.read_parquet(path).equals(table)


def test_range_index_is_not_written(tmp_path):
    df = pd.DataFrame({"a": [1, 2]})
    assert to_csv_text(df) == "a\n1\n2\n"


def test_unwritable_local_path_raises_store_error(table, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError):
        store(table, Output(path=str(blocker / "r.csv")))


def test_s3_bucket_and_path(table, moto_server, s3_env):
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="results")
    where = store(table, Output(path="runs/r.csv", bucket="results", endpoint_url=moto_server, region="us-east-1"))
    assert where == "s3://results/runs/r.csv"
    body = s3.get_object(Bucket="results", Key="runs/r.csv")["Body"].read().decode()
    assert body == to_csv_text(table)


def test_s3_url_path_with_explicit_keys(table, moto_server, s3_env, monkeypatch):
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="other")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    output = Output(path="s3://other/deep/r.parquet", key="AKIAEXPLICIT", secret_key="explicit",
                    endpoint_url=moto_server)
    assert store(table, output) == "s3://other/deep/r.parquet"
    data = s3.get_object(Bucket="other", Key="deep/r.parquet")["Body"].read()
    assert pd.read_parquet(io.BytesIO(data)).equals(table)


def test_missing_bucket_is_a_store_error(table, moto_server, s3_env):
    with pytest.raises(StoreError, match="NoSuchBucket"):
        store(table, Output(path="r.csv", bucket="absent", endpoint_url=moto_server))


def test_endpoint_down_falls_back_to_the_log_and_recovers_identically(table, s3_env, tmp_path, capsys):
    dead = f"http://127.0.0.1:{free_port()}"
    config = load_config({"run": {"function": "a.b"},
                          "output": {"path": "r.csv", "bucket": "bkt", "endpoint_url": dead}})
    with pytest.raises(ResultNotStored) as info:
        keep_result(table, config)
    assert info.value.exit_code == 3
    assert info.value.result is table
    log = capsys.readouterr().out
    assert recover(log) == to_csv_text(table)
    logfile = tmp_path / "pod.log"
    logfile.write_text(log)
    result = run_cli("recover", str(logfile), "-o", str(tmp_path / "back.csv"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "back.csv").read_text() == to_csv_text(table)


def test_recover_survives_timestamps_and_interleaved_log_lines(table):
    buffer = io.StringIO()
    print_result(table, buffer)
    lines = buffer.getvalue().splitlines()
    lines.insert(2, "2026-11-28 INFO distributed.worker: something else")
    stamped = "\n".join(f"2026-11-28T18:00:00.000000000Z {line}" for line in lines)
    assert recover("noise before\n" + stamped + "\nnoise after") == to_csv_text(table)


def test_recover_refuses_a_cut_or_damaged_block(table):
    buffer = io.StringIO()
    print_result(table, buffer)
    text = buffer.getvalue()
    with pytest.raises(RecoverError, match="cut off"):
        recover(text.rsplit("\n", 2)[0])
    with pytest.raises(RecoverError, match="damaged"):
        recover(text.replace("0.85", "0.95"))
    with pytest.raises(RecoverError, match="no result block"):
        recover("just a log\n")


def test_recover_cli_reads_stdin_and_fails_cleanly():
    result = subprocess.run(["daskrun", "recover", "-"], input="no block\n", capture_output=True, text=True)
    assert result.returncode == 1 and "no result block" in result.stderr


def test_no_output_prints_the_table_and_a_recoverable_block(table, capsys):
    config = load_config({"run": {"function": "a.b"}})
    assert keep_result(table, config) is table
    out = capsys.readouterr().out
    assert "iris" in out and recover(out) == to_csv_text(table)


def test_no_output_with_a_long_result_shows_its_head_and_keeps_every_row_in_the_block(capsys):
    long = pd.DataFrame({"i": range(MAX_TABLE_ROWS + 1), "name": [f"row-{i}" for i in range(MAX_TABLE_ROWS + 1)]})
    keep_result(long, load_config({"run": {"function": "a.b"}}))
    out = capsys.readouterr().out
    shown = out.split("----- BEGIN DASKRUN RESULT", 1)[0]
    assert "row-0" in shown and f"row-{MAX_TABLE_ROWS}" not in shown
    assert f"... {MAX_TABLE_ROWS + 1 - MAX_TABLE_ROWS // 2} more rows in the result block below" in shown
    assert recover(out) == to_csv_text(long)


def _log_of_blocks(*frames_and_formats) -> bytes:
    buffer = io.StringIO()
    for df, fmt in frames_and_formats:
        print_result(df, buffer, fmt)
    return buffer.getvalue().encode()


def test_recover_to_file_keeps_the_last_intact_block_and_leaves_only_the_file(table, tmp_path):
    good = _log_of_blocks((table, "parquet"))
    damaged = _log_of_blocks((pd.DataFrame({"a": [1]}), "csv")).replace(b"| 1", b"| 7")
    cut = _log_of_blocks((pd.DataFrame({"a": [2]}), "csv")).rsplit(b"\n", 2)[0] + b"\n"
    target = tmp_path / "out" / "r.parquet"
    target.parent.mkdir()
    found = recover_to_file(io.BytesIO(good + damaged + cut), target)
    assert (found.format, found.rows) == ("parquet", 2)
    actual, logged = (hashlib.sha256(text).hexdigest() for text in (b"a\n7\n", b"a\n1\n"))
    assert found.notes == ("skipped result block 3 of 3: it is cut off: its end marker is missing",
                           f"skipped result block 2 of 3: it is damaged: sha256 {actual} != {logged} from the log")
    assert pd.read_parquet(target).equals(table)
    assert [p.name for p in target.parent.iterdir()] == ["r.parquet"]


def test_recover_to_file_that_finds_nothing_intact_leaves_nothing(tmp_path):
    cut = _log_of_blocks((pd.DataFrame({"a": [2]}), "csv")).rsplit(b"\n", 2)[0] + b"\n"
    with pytest.raises(RecoverError, match="cut off"):
        recover_to_file(io.BytesIO(cut * 3), tmp_path / "r.csv")
    assert list(tmp_path.iterdir()) == []


def test_recover_to_stream_copies_the_file_once_the_log_is_read(table):
    out = io.BytesIO()
    found = recover_to_stream(io.BytesIO(_log_of_blocks((table, "csv"), (table, "parquet"))), out)
    assert found.format == "parquet" and pd.read_parquet(out).equals(table)


@pytest.mark.slow
def test_recover_reads_a_large_log_in_little_memory(tmp_path):
    # The reader holds a batch of lines (about a MiB of text) and its copies, whatever the log.
    logfile, digest = tmp_path / "pod.log", hashlib.sha256()
    lines = "".join(f'{i},"cell {i}\n\\ with, text"\n' for i in range(10_000))
    with logfile.open("w") as handle:
        block = CsvBlockWriter(handle)
        for _ in range(60):
            block.write(lines)
            digest.update(lines.encode())
        block.end(600_000, header=0)  # rows only: the text has no header line
    tracemalloc.start()
    try:
        with logfile.open("rb") as handle:
            recover_to_file(handle, tmp_path / "r.csv")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert logfile.stat().st_size > 32 * 2**20 and peak < 16 * 2**20, peak
    assert hashlib.sha256((tmp_path / "r.csv").read_bytes()).hexdigest() == digest.hexdigest()


def test_a_local_store_that_fails_while_writing_leaves_no_file(tmp_path):
    df = pd.DataFrame({"mixed": [1, "a", 2.5]})  # an object column Parquet refuses
    with pytest.raises(StoreError):
        store(df, Output(path=str(tmp_path / "r.parquet")))
    assert list(tmp_path.iterdir()) == []


def test_store_to_s3_and_through_the_log_carry_the_same_bytes(table, moto_server, s3_env):
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="results")
    for fmt in ("csv", "parquet"):
        store(table, Output(path=f"r.{fmt}", bucket="results", endpoint_url=moto_server))
        stored = s3.get_object(Bucket="results", Key=f"r.{fmt}")["Body"].read()
        assert stored == serialise(table, fmt) == recover_block(_log_of_blocks((table, fmt)).decode()).data


def test_a_symlink_at_output_path_is_followed_not_replaced(table, tmp_path):
    # issue 18: the link was replaced by a file of its own, and the file it points at kept
    # its old content.
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "r1.csv"
    target.write_text("old\n")
    link = tmp_path / "latest.csv"
    link.symlink_to(target)
    store(table, Output(path=str(link)))
    assert link.is_symlink() and link.resolve() == target
    assert pd.read_csv(target, index_col="challenge").equals(table)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.csv", "runs"]
    assert [p.name for p in target.parent.iterdir()] == ["r1.csv"]


@pytest.mark.parametrize("dangling", [False, True])
def test_recover_writes_through_a_symlink_at_o(table, tmp_path, dangling):
    target = tmp_path / "kept.csv"
    if not dangling:
        target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    found = recover_to_file(io.BytesIO(_log_of_blocks((table, "csv"))), link)
    assert found.rows == 2 and link.is_symlink()
    assert pd.read_csv(target, index_col="challenge").equals(table)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.csv", "link.csv"]
