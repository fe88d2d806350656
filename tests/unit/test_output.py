"""Storing results: local files, a real S3 server, and the log fallback with `daskrun recover`."""

import io
import subprocess

import boto3
import pandas as pd
import pytest

from daskrun.config import Output
from daskrun.output import RecoverError, StoreError, print_result, recover, store, to_csv_text
from daskrun.runner import keep_result
from daskrun.config import load_config
from daskrun.errors import ResultNotStored

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
                          "output": {"path": "r.csv", "bucket": "b", "endpoint_url": dead}})
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
