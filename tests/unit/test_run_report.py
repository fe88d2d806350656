"""The phase timeline and the run report (<name>.report.html, <name>.run.json) beside the result."""

import datetime
import json
import os
from dataclasses import fields

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli_runner import run_cli
from daskrun import run_status, timeline
from daskrun.config import ConfigError, Output, parse_config
from daskrun.errors import OUTCOMES, ExitCode, FunctionFailed, ResultNotStored
from daskrun.job_logs import RUN_CONTAINER
from daskrun.output import beside
from daskrun.run_record import RunRecord, result_shape, task_summary, worker_counts
from daskrun.run_summary import RunSummary

HERE = os.path.dirname(__file__)
SQUARES = {"run": {"function": "sample_functions.squares", "args": {"n": 6}}, "dask_cluster": {"workers": 2}}
# Every phase a local run with workers and an output goes through, in order.
LOCAL_PHASES = [p for p in timeline.PHASES if p != timeline.SCHEDULER_RUNNING]


def run_local(tmp_path, config):
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))  # JSON: keys such as `n` stay names to Helm and to daskrun
    # The caller's PYTHONPATH too: the daskrun under test, not whichever one is installed.
    return run_cli("run", str(path), "--local", "--progress-interval", "0", cwd=tmp_path,
                   env={"PYTHONPATH": os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")]))})


def status_of_a_job_with_this_log(log, exit_code, kept_in=None):
    """What `daskrun status` says of a finished Job of the chart whose launcher wrote `log`
    and ended with `exit_code`; its result folder `kept_in` on a claim."""
    condition = {"type": "Complete" if exit_code == 0 else "Failed", "status": "True",
                 "lastTransitionTime": "2026-12-03T11:01:00Z"}
    spec = {"containers": [{"name": RUN_CONTAINER, "volumeMounts": [{"name": "out", "mountPath": str(kept_in)}]}],
            "volumes": [{"name": "out", "persistentVolumeClaim": {"claimName": "results"}}]} if kept_in else {}
    job = {"metadata": {"name": "sq-daskrun-r1", "namespace": "runs", "labels": {}},
           "spec": {"template": {"spec": spec}},
           "status": {"startTime": "2026-12-03T11:00:00Z", "completionTime": "2026-12-03T11:01:00Z",
                      "conditions": [condition]}}
    pod = {"metadata": {"name": "sq-daskrun-r1-a", "creationTimestamp": "2026-12-03T11:00:01Z"},
           "status": {"phase": "Succeeded" if exit_code == 0 else "Failed", "containerStatuses": [
               {"name": RUN_CONTAINER, "state": {"terminated": {"exitCode": exit_code}}}]}}
    return run_status.status_of(job, [pod], log, datetime.datetime.now(datetime.UTC))


# What the Job and the log tell `daskrun status` of a finished run too (tasks come from
# progress lines, which these runs turn off, and the time from the Job).
FROM_THE_LOG_TOO = ("phase", "exit_code", "reason", "workers", "workers_wanted", "result")


def assert_status_as_daskrun_status_says(record, log, kept_in=None):
    status = record["status"]
    assert list(status) == [f.name for f in fields(RunSummary)]
    seen = status_of_a_job_with_this_log(log, record["exit_code"], kept_in)
    assert {key: status[key] for key in FROM_THE_LOG_TOO} == {key: getattr(seen, key) for key in FROM_THE_LOG_TOO}
    assert 0 < status["elapsed_seconds"] < 300
    assert status["elapsed_seconds"] >= record["timeline"][-1]["seconds"]  # stored after the last phase


def assert_well_formed_record(record, *, exit_code, rows=None, workers=2):
    assert record["format"] == 1 and record["exit_code"] == exit_code
    phases = [p["phase"] for p in record["timeline"]]
    seconds = [p["seconds"] for p in record["timeline"]]
    assert phases[0] == timeline.LAUNCHER_STARTED and seconds == sorted(seconds)
    counts = [w["count"] for w in record["workers"]]
    assert max(counts) == workers
    assert record["packages"]["launcher"]["dask"] == record["packages"]["scheduler"]["dask"]
    assert record["packages"]["workers"]["dask"] == [record["packages"]["launcher"]["dask"]]
    if rows is not None:
        assert record["result"]["rows"] == rows and record["result"]["column_names"] == ["i", "square"]
        assert record["tasks"]["total"] == rows and record["tasks"]["by_status"] == {"OK": rows}
    return phases


@pytest.mark.slow
def test_local_run_stores_report_and_run_json_beside_the_result_and_logs_the_table(tmp_path):
    result = run_local(tmp_path, dict(SQUARES, output={"path": "out/sq.csv"}))
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["sq.csv", "sq.report.html", "sq.run.json"]
    html = (out / "sq.report.html").read_text()
    assert "<html" in html.lower() and "Dask Performance Report" in html and "Task Stream" in html
    record = json.loads((out / "sq.run.json").read_text())
    assert assert_well_formed_record(record, exit_code=0, rows=6) == LOCAL_PHASES
    assert record["where"] == "local" and record["error"] is None
    assert record["status"] | {"elapsed_seconds": None} == {
        "phase": "succeeded", "exit_code": 0, "reason": OUTCOMES[ExitCode.OK].short, "workers": 2,
        "workers_wanted": 2, "tasks_done": 6, "tasks_total": 6, "elapsed_seconds": None,
        "result": str(out / "sq.csv")}
    assert_status_as_daskrun_status_says(record, result.stderr, kept_in=out)
    assert record["launcher"]["peak_memory_bytes"] > 50 * 2**20  # python + pandas + dask at least
    assert f"run report stored at {out / 'sq.report.html'}" in result.stderr
    assert f"run report stored at {out / 'sq.run.json'}" in result.stderr
    # The table closes the log: one row per phase, in order.
    table = result.stderr.split("phases of this run:\n", 1)[1].splitlines()
    assert table[0].split()[:1] == ["phase"]
    assert [row[:22].strip() for row in table[1:len(LOCAL_PHASES) + 1]] == LOCAL_PHASES
    for phase in LOCAL_PHASES[1:]:
        assert f"phase: {phase} at +" in result.stderr


@pytest.mark.slow
def test_report_goes_to_the_same_s3_bucket(tmp_path, moto_server, s3_env):
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="runs")
    config = dict(SQUARES, output={"path": "s3://runs/2026/sq.parquet", "endpoint_url": moto_server})
    result = run_local(tmp_path, config)
    assert result.returncode == 0, result.stderr[-3000:]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="runs")["Contents"])
    assert keys == ["2026/sq.parquet", "2026/sq.report.html", "2026/sq.run.json"]
    record = json.loads(s3.get_object(Bucket="runs", Key="2026/sq.run.json")["Body"].read())
    assert_well_formed_record(record, exit_code=0, rows=6)
    assert "endpoint_url" in record["config"]["output"]
    assert record["status"]["result"] == "s3://runs/2026/sq.parquet"
    assert_status_as_daskrun_status_says(record, result.stderr)
    assert b"Dask Performance Report" in s3.get_object(Bucket="runs", Key="2026/sq.report.html")["Body"].read()
    assert "run report stored at s3://runs/2026/sq.run.json" in result.stderr


@pytest.mark.slow
def test_report_false_stores_only_the_result_but_still_logs_the_table(tmp_path):
    result = run_local(tmp_path, dict(SQUARES, output={"path": "sq.csv", "report": False}))
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "sq.csv"]
    assert "run report" not in result.stderr and "phases of this run:" in result.stderr


@pytest.mark.slow
def test_a_report_that_cannot_be_stored_never_fails_the_run(tmp_path):
    (tmp_path / "sq.run.json").mkdir()  # a directory where the file should go
    result = run_local(tmp_path, dict(SQUARES, output={"path": "sq.csv"}))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "sq.csv").read_text().startswith("i,square\n")
    assert (tmp_path / "sq.report.html").is_file()
    assert "run report .run.json not stored at sq.run.json: IsADirectoryError" in result.stderr


@pytest.mark.slow
def test_a_failed_function_is_recorded_with_its_exit_code(tmp_path):
    config = {"run": {"function": "sample_functions.fails"}, "dask_cluster": {"workers": 1},
              "output": {"path": "f.csv"}}
    result = run_local(tmp_path, config)
    assert result.returncode == 1
    record = json.loads((tmp_path / "f.run.json").read_text())
    phases = assert_well_formed_record(record, exit_code=1, workers=1)
    assert record["result"] is None and "task 1 exploded" in record["error"]
    assert timeline.FUNCTION_STARTED in phases and timeline.RESULT_STORED not in phases
    assert phases[-1] == timeline.CLUSTER_DELETED
    assert record["tasks"]["by_status"] == {"error": 1}
    assert record["status"] | {"elapsed_seconds": None} == {
        "phase": "failed", "exit_code": 1, "reason": OUTCOMES[ExitCode.FUNCTION_FAILED].short, "workers": 1,
        "workers_wanted": 1, "tasks_done": 0, "tasks_total": 1, "elapsed_seconds": None, "result": "none"}
    assert_status_as_daskrun_status_says(record, result.stderr)
    assert not (tmp_path / "f.csv").exists()


def test_a_result_left_in_the_log_is_where_status_says_with_the_command_that_recovers_it():
    config = parse_config({"run": {"function": "m.f"}, "output": {"path": "s3://runs/sq.csv"}})
    record = RunRecord(config, "kubernetes")
    record.job = "sq-daskrun-r1"
    record.finish(ResultNotStored("result not stored: AccessDenied", None))
    summary = record.summary()
    seen = status_of_a_job_with_this_log("", ExitCode.NOT_STORED)
    assert (summary.phase, summary.exit_code, summary.reason, summary.result) == (
        seen.phase, seen.exit_code, seen.reason, seen.result)
    assert summary.result == "in the log: daskrun recover --job sq-daskrun-r1 -o FILE"
    assert summary.tasks_total is None and summary.workers is None  # nothing observed: no made-up numbers


def test_a_local_run_left_in_the_log_names_the_saved_log():
    record = RunRecord(parse_config({"run": {"function": "m.f"}, "output": {"path": "sq.csv"}}), "local")
    record.finish(ResultNotStored("result not stored: disk full", None))
    assert record.summary().result == "in the log: daskrun recover LOGFILE -o FILE"
    record.finish(FunctionFailed("boom"))
    assert (record.summary().phase, record.summary().result) == ("failed", "none")


def test_report_must_be_a_boolean():
    with pytest.raises(ConfigError) as error:
        parse_config({"run": {"function": "m.f"}, "output": {"path": "r.csv", "report": "no"}})
    assert "output.report: " in str(error.value)


def test_timeline_orders_phases_keeps_the_first_mark_and_rejects_unknown_ones():
    line = timeline.Timeline(started=100.0)
    line.mark(timeline.SCHEDULER_RUNNING, 103.0)
    line.mark(timeline.CLUSTER_CREATED, 101.5)
    line.mark(timeline.CLUSTER_CREATED, 102.0)  # a retried start: the first time counts
    assert line.ordered() == [(timeline.LAUNCHER_STARTED, 100.0), (timeline.CLUSTER_CREATED, 101.5),
                              (timeline.SCHEDULER_RUNNING, 103.0)]
    rows = line.table().splitlines()
    assert rows[2].split()[-2:] == ["1.50", "1.50"] and rows[3].split()[-2:] == ["3.00", "1.50"]
    assert line.as_dict()["phases"][2] == {"phase": timeline.SCHEDULER_RUNNING,
                                           "time": "1970-01-01T00:01:43.000+00:00", "seconds": 3.0}
    with pytest.raises(ValueError, match="unknown phase"):
        line.mark("lunch")


def test_task_summary_and_result_shape():
    import pandas as pd

    token = "0123456789abcdef" * 2  # dask's keys end in a token, which key_split drops
    stream = [{"key": (f"sum-{token}", 0), "status": "OK", "startstops": [{"action": "compute", "start": 1, "stop": 3}]},
              {"key": f"inc-{token}", "status": "error", "startstops": [{"action": "transfer", "start": 1, "stop": 1.5},
                                                                    {"action": "compute", "start": 2, "stop": 2.5}]}]
    assert task_summary(stream) == {"total": 2, "by_status": {"OK": 1, "error": 1},
                                    "by_prefix": {"sum": 1, "inc": 1},
                                    "seconds_by_action": {"compute": 2.5, "transfer": 0.5}}
    shape = result_shape(pd.DataFrame({"a": range(3), 7: ["x", "y", "z"]}))
    assert shape["rows"] == 3 and shape["column_names"] == ["a", "7"] and shape["memory_bytes"] > 0
    assert result_shape(None) is None


events = st.lists(st.tuples(st.floats(0, 1e6, allow_nan=False),
                            st.sampled_from(["add-worker", "remove-worker", "add-client", "other"])))


@given(events)
def test_worker_counts_follow_adds_and_removes_and_never_go_negative(items):
    series = worker_counts([(at, {"action": action}) for at, action in items])
    # Events of the same time keep the order in which the scheduler logged them.
    relevant = sorted(((at, action) for at, action in items if action in ("add-worker", "remove-worker")),
                      key=lambda event: event[0])
    assert len(series) == len(relevant)
    assert [at for at, _ in series] == sorted(at for at, _ in series)
    count = 0
    for (_, action), (_, seen) in zip(relevant, series, strict=True):
        count = count + 1 if action == "add-worker" else max(0, count - 1)
        assert seen == count >= 0


names = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="-_"), min_size=1, max_size=12)


@given(st.lists(names, max_size=3), names, st.sampled_from([".csv", ".parquet", ".CSV", ""]),
       st.sampled_from(["local", "s3-url", "bucket"]))
def test_beside_keeps_store_and_folder_and_swaps_the_extension(folders, stem, extension, kind):
    key = "/".join([*folders, stem + extension])
    if not extension:
        return  # refused by the config: an output path ends in .csv or .parquet
    if kind == "s3-url":
        output = Output.model_validate({"path": f"s3://bucket/{key}"})
    elif kind == "bucket":
        output = Output.model_validate({"path": key, "bucket": "bkt", "region": "eu-west-1"})
    else:
        output = Output.model_validate({"path": key})
    target = beside(output, ".run.json")
    assert target.path.endswith(stem + ".run.json")
    assert target.path.rpartition("/")[0] == output.path.rpartition("/")[0]
    assert (target.bucket, target.region, target.is_s3) == (output.bucket, output.region, output.is_s3)
