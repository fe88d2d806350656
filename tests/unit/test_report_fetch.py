"""`daskrun report`: where a run's report files are (daskrun.run_record names them, daskrun.result_source
places them), the reader pods that copy them from a claim, the copies into DIR (daskrun.report_fetch)
and the whole command against a real S3 server (moto) and the HTTP stand-in for the Kubernetes API
(tests/support/fake_kube.py), which runs each reader pod's own program on a local folder for its claim.
A real reader pod needs a cluster: tests/e2e."""

from __future__ import annotations

import io
import json
import os
import posixpath
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from chart_jobs import FUNCTION, NAMESPACE, RELEASE, chart_config_map, chart_job
from cli_runner import run_cli
from fake_kube import FakeKube

from daskrun.config import parse_config
from daskrun.errors import ExitCode, ResultNotFound, ResultTargetError
from daskrun.reader_pod import COMPONENT, READER_SCRIPT, decode_reader_output, reader_pod_manifest
from daskrun.report_fetch import ReportFile, check_folder, fetch_one, report_locations
from daskrun.result_source import FromClaim, FromS3, launcher_job, source_for
from daskrun.run_record import RECORD_SUFFIX, REPORT_FILES, REPORT_SUFFIX, RunRecord, report_outputs

HTML, RECORD = b"<html>the performance report</html>\n", b'{"format": 1, "exit_code": 0}\n'
CLAIM_JOB = {"claim": "results-pvc", "sub_path": "team-a", "output_dir": "/home/daskrun/results"}


def config(output: dict | None = None):
    return parse_config({"run": FUNCTION, **({"output": output} if output else {})})


def recent_job(**kwargs) -> dict:
    """A Job that started an hour ago: objects written now are its run's."""
    return chart_job(started=(datetime.now(UTC) - timedelta(hours=1)).isoformat(), **kwargs)


# -- one naming of the files, for storing and for fetching --------------------------------------------


def test_the_run_stores_its_report_where_report_outputs_says(tmp_path):
    output = {"path": str(tmp_path / "runs" / "out.parquet")}
    record = RunRecord(config(output), "local")
    record.report_html = HTML
    record.finish(None)
    record.store()
    assert config(output).output is not None
    named = [(suffix, Path(target.path or "")) for suffix, target in report_outputs(config(output).output)]
    assert [suffix for suffix, _ in named] == list(REPORT_FILES) == [REPORT_SUFFIX, RECORD_SUFFIX]
    assert [path.name for _, path in named] == ["out.report.html", "out.run.json"]
    assert named[0][1].read_bytes() == HTML and json.loads(named[1][1].read_text())["exit_code"] == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["out.report.html", "out.run.json"]


def test_the_command_fetches_the_files_report_outputs_names():
    cfg = config({"path": "s3://results/runs/out.csv"})
    assert cfg.output is not None
    stored = [target.s3_object for _, target in report_outputs(cfg.output)]
    located = report_locations(cfg, launcher_job(chart_job()))
    assert [(name, (where.bucket, where.key)) for name, where in located if isinstance(where, FromS3)] == [
        ("out.report.html", stored[0]),
        ("out.run.json", stored[1]),
    ]


# -- where they are -------------------------------------------------------------------------------------


def test_an_s3_output_by_bucket_keeps_its_endpoint_and_region():
    cfg = config({"path": "/runs/out.parquet", "bucket": "results", "endpoint_url": "http://m:9", "region": "r1"})
    assert report_locations(cfg, launcher_job(chart_job())) == [
        ("out.report.html", FromS3("results", "runs/out.report.html", endpoint_url="http://m:9", region="r1")),
        ("out.run.json", FromS3("results", "runs/out.run.json", endpoint_url="http://m:9", region="r1")),
    ]


def test_a_claim_output_has_both_files_on_the_claim():
    job = launcher_job(chart_job(**CLAIM_JOB))
    located = report_locations(config({"path": "results/2026/out.csv"}), job)
    assert [(name, where.where) for name, where in located if isinstance(where, FromClaim)] == [
        ("out.report.html", "pvc/results-pvc:team-a/2026/out.report.html"),
        ("out.run.json", "pvc/results-pvc:team-a/2026/out.run.json"),
    ]


def test_a_failed_run_is_located_like_a_finished_one():
    # Unlike its result, a failed run's report is stored (all but a bad config's): no log to fall back to.
    located = report_locations(config({"path": "s3://results/out.csv"}), launcher_job(chart_job(condition="Failed")))
    assert [name for name, _ in located] == ["out.report.html", "out.run.json"]


@pytest.mark.parametrize("suspend", [False, True])
def test_a_running_or_suspended_run_is_not_finished_as_result_says(suspend):
    job = launcher_job(chart_job(condition=None, suspend=suspend))
    cfg = config({"path": "s3://results/out.csv"})
    with pytest.raises(ResultNotFound) as caught:
        report_locations(cfg, job)
    assert str(caught.value) == source_for(cfg, job).why  # type: ignore[union-attr]
    assert "kubectl wait" in str(caught.value)


def test_no_output_means_no_report_and_says_what_to_set():
    with pytest.raises(ResultNotFound) as caught:
        report_locations(config(), launcher_job(chart_job()))
    assert "has no `output`" in str(caught.value)
    assert "set output.path" in str(caught.value) and "next time" in str(caught.value)


def test_report_false_means_no_report_and_says_what_to_set():
    with pytest.raises(ResultNotFound) as caught:
        report_locations(config({"path": "s3://results/out.csv", "report": False}), launcher_job(chart_job()))
    assert "output.report false" in str(caught.value) and "next time" in str(caught.value)


def test_a_report_in_the_pods_own_filesystem_went_with_it():
    with pytest.raises(ResultNotFound) as caught:
        report_locations(config({"path": "out.csv"}), launcher_job(chart_job()))
    message = str(caught.value)
    assert "stored its report at /home/daskrun/out.report.html in the launcher pod" in message
    assert "on its home volume, not a PersistentVolumeClaim" in message
    assert "set outputVolume.create: true (or outputVolume.existingClaim, or an S3 output)" in message


# -- the reader pods ----------------------------------------------------------------------------------------


def test_each_file_has_a_reader_pod_of_its_path_with_the_claim_read_only():
    job = launcher_job(chart_job(**CLAIM_JOB))
    located = report_locations(config({"path": "results/out.csv"}), job)
    pods = [
        reader_pod_manifest(job, where, f"pod-{n}")
        for n, (_, where) in enumerate(located)
        if isinstance(where, FromClaim)
    ]
    assert [pod["spec"]["containers"][0]["args"][-1] for pod in pods] == [
        "/home/daskrun/results/out.report.html",
        "/home/daskrun/results/out.run.json",
    ]
    for pod in pods:
        (container,) = pod["spec"]["containers"]
        assert container["args"][:3] == ["python3", "-c", READER_SCRIPT]
        assert container["volumeMounts"] == [
            {"name": "result", "mountPath": "/home/daskrun/results", "subPath": "team-a", "readOnly": True}
        ]
        assert pod["spec"]["volumes"] == [
            {"name": "result", "persistentVolumeClaim": {"claimName": "results-pvc", "readOnly": True}}
        ]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == COMPONENT


@pytest.mark.parametrize("data", [HTML, RECORD, b""])
def test_the_reader_output_of_a_report_file_decodes_to_it(tmp_path, data):
    (tmp_path / "out.run.json").write_bytes(data)
    printed = subprocess.run(
        [sys.executable, "-c", READER_SCRIPT, str(tmp_path / "out.run.json")], capture_output=True, check=True
    ).stdout
    sink = io.BytesIO()
    assert decode_reader_output(printed.splitlines(keepends=True), sink) == len(data)
    assert sink.getvalue() == data


# -- DIR ---------------------------------------------------------------------------------------------------


def test_a_missing_or_existing_folder_is_taken(tmp_path):
    assert check_folder(str(tmp_path)) == tmp_path
    assert check_folder(str(tmp_path / "new" / "deeper")) == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # made once the run has a report, not before


def test_a_file_is_refused_as_the_folder(tmp_path):
    (tmp_path / "report").write_text("mine")
    with pytest.raises(ResultTargetError, match="is a file; name a folder") as caught:
        check_folder(str(tmp_path / "report"))
    assert caught.value.exit_code == ExitCode.BAD_CONFIG
    assert (tmp_path / "report").read_text() == "mine"


# -- S3, with a real server ----------------------------------------------------------------------------------


@pytest.fixture
def bucket(moto_server, s3_env):
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="results")
    return s3


def _s3_files(moto_server, job_dict):
    job = launcher_job(job_dict)
    return job, report_locations(config({"path": "s3://results/runs/out.csv", "endpoint_url": moto_server}), job)


def test_both_objects_are_copied_into_the_folder_it_makes(bucket, moto_server, tmp_path):
    bucket.put_object(Bucket="results", Key="runs/out.report.html", Body=HTML)
    bucket.put_object(Bucket="results", Key="runs/out.run.json", Body=RECORD)
    job, located = _s3_files(moto_server, recent_job())
    files = [fetch_one(job, name, where, tmp_path / "dir") for name, where in located]
    assert files == [
        ReportFile("out.report.html", "s3://results/runs/out.report.html", tmp_path / "dir/out.report.html", len(HTML)),
        ReportFile("out.run.json", "s3://results/runs/out.run.json", tmp_path / "dir/out.run.json", len(RECORD)),
    ]
    assert (tmp_path / "dir/out.report.html").read_bytes() == HTML
    assert (tmp_path / "dir/out.run.json").read_bytes() == RECORD


def test_a_missing_object_is_a_miss_of_that_file_only(bucket, moto_server, tmp_path):
    bucket.put_object(Bucket="results", Key="runs/out.run.json", Body=RECORD)
    job, located = _s3_files(moto_server, recent_job())
    html, record = (fetch_one(job, name, where, tmp_path) for name, where in located)
    assert html.written is None and html.missed == "no such object"
    assert record.written == tmp_path / "out.run.json" and record.missed is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.run.json"]  # no half file of the other


def test_an_object_older_than_the_job_is_an_earlier_runs(bucket, moto_server, tmp_path):
    bucket.put_object(Bucket="results", Key="runs/out.report.html", Body=HTML)
    job, located = _s3_files(moto_server, chart_job(started=(datetime.now(UTC) + timedelta(hours=1)).isoformat()))
    html = fetch_one(job, *located[0], tmp_path)
    assert html.written is None and "an earlier run's" in (html.missed or "")
    assert not (tmp_path / "out.report.html").exists()


def test_a_miss_of_a_failed_run_says_a_bad_config_stores_none(bucket, moto_server, tmp_path):
    job, located = _s3_files(moto_server, recent_job(condition="Failed"))
    html = fetch_one(job, *located[0], tmp_path)
    assert (html.missed or "").startswith("no such object (job/demo-daskrun-r1-ba36968d failed, PodFailurePolicy")
    assert "a run stopped by a bad config stores no report" in (html.missed or "")


def test_a_folder_that_cannot_be_made_is_a_target_error(bucket, moto_server, tmp_path):
    (tmp_path / "file").write_text("x")
    job, located = _s3_files(moto_server, recent_job())
    with pytest.raises(ResultTargetError, match="cannot create the folder"):
        fetch_one(job, *located[0], tmp_path / "file" / "dir")


# -- the command, against the HTTP API stand-in (and moto) ---------------------------------------------------------


@pytest.fixture
def fake(tmp_path):
    with FakeKube() as fake:
        fake.kubeconfig(tmp_path / "kubeconfig")
        yield fake


def _install(fake: FakeKube, job_dict: dict, output: dict | None) -> str:
    name = job_dict["metadata"]["name"]
    fake.jobs[name] = job_dict
    fake.config_maps[name] = chart_config_map(job_dict, {"run": FUNCTION, **({"output": output} if output else {})})
    return name


def _report(tmp_path, *args: str):
    return run_cli("report", RELEASE, *args, env={"KUBECONFIG": str(tmp_path / "kubeconfig")})


def _said(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("daskrun report: ")]


def test_both_s3_files_of_the_newest_run_are_written(fake, tmp_path, bucket, moto_server):
    bucket.put_object(Bucket="results", Key="runs/out.report.html", Body=HTML)
    bucket.put_object(Bucket="results", Key="runs/out.run.json", Body=RECORD)
    _install(fake, chart_job(1, run_hash="11111111"), {"path": "s3://results/old.csv", "endpoint_url": moto_server})
    _install(fake, recent_job(revision=2), {"path": "s3://results/runs/out.csv", "endpoint_url": moto_server})
    folder = tmp_path / "reports" / "demo"
    result = _report(tmp_path, "-o", str(folder), "-n", NAMESPACE)
    assert result.returncode == 0, result.stderr
    assert _said(result) == [
        f"daskrun report: out.report.html from s3://results/runs/out.report.html ({len(HTML)} bytes) "
        f"written to {folder / 'out.report.html'}",
        f"daskrun report: out.run.json from s3://results/runs/out.run.json ({len(RECORD)} bytes) "
        f"written to {folder / 'out.run.json'}",
    ]
    assert (folder / "out.report.html").read_bytes() == HTML and (folder / "out.run.json").read_bytes() == RECORD
    assert "testing" not in result.stderr  # the AWS secret of s3_env


def test_one_missing_object_writes_the_other_and_exits_1(fake, tmp_path, bucket, moto_server):
    bucket.put_object(Bucket="results", Key="runs/out.report.html", Body=HTML)
    _install(fake, recent_job(), {"path": "s3://results/runs/out.csv", "endpoint_url": moto_server})
    result = _report(tmp_path, "-o", str(tmp_path / "dir"))
    assert result.returncode == 1
    assert "daskrun report: out.run.json not fetched: s3://results/runs/out.run.json: no such object" in result.stderr
    assert "1 of 2 report files of demo revision 1 (job/demo-daskrun-r1-ba36968d) not found: out.run.json" in (
        result.stderr
    )
    assert (tmp_path / "dir" / "out.report.html").read_bytes() == HTML
    assert not (tmp_path / "dir" / "out.run.json").exists()


def test_objects_older_than_the_job_are_refused(fake, tmp_path, bucket, moto_server):
    bucket.put_object(Bucket="results", Key="runs/out.report.html", Body=HTML)
    bucket.put_object(Bucket="results", Key="runs/out.run.json", Body=RECORD)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    _install(fake, chart_job(started=later), {"path": "s3://results/runs/out.csv", "endpoint_url": moto_server})
    result = _report(tmp_path, "-o", str(tmp_path / "dir"))
    assert result.returncode == 1
    assert result.stderr.count("an earlier run's") == 2 and "2 of 2 report files" in result.stderr
    assert list((tmp_path / "dir").iterdir()) == []


def test_a_failed_run_without_a_report_says_why_per_file(fake, tmp_path, bucket, moto_server):
    _install(fake, recent_job(condition="Failed"), {"path": "s3://results/runs/out.csv", "endpoint_url": moto_server})
    result = _report(tmp_path, "-o", str(tmp_path / "dir"))
    assert result.returncode == 1
    assert result.stderr.count("a run stopped by a bad config stores no report") == 2


class Claims:
    """Reader pods run here: each pod's own program, given its file under the claim's local folder."""

    def __init__(self, root: Path):
        self.root = root

    def __call__(self, pod: dict) -> tuple[str, str]:
        (container,) = pod["spec"]["containers"]
        (mount,) = container["volumeMounts"]
        (volume,) = pod["spec"]["volumes"]
        assert mount["readOnly"] and volume["persistentVolumeClaim"]["readOnly"]
        python, flag, program, path = container["args"]
        inside = posixpath.relpath(path, mount["mountPath"])
        local = self.root / volume["persistentVolumeClaim"]["claimName"] / mount.get("subPath", "") / inside
        done = subprocess.run([sys.executable, flag, program, str(local)], capture_output=True, text=True)
        return ("Succeeded" if done.returncode == 0 else "Failed"), done.stdout + done.stderr


def _claim_files(tmp_path: Path, **files: bytes) -> Path:
    folder = tmp_path / "claims" / "results-pvc" / "team-a" / "2026"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return tmp_path / "claims"


def test_both_files_on_a_claim_come_through_reader_pods_that_are_deleted(fake, tmp_path):
    fake.run_pod = Claims(_claim_files(tmp_path, **{"out.report.html": HTML, "out.run.json": RECORD}))
    _install(fake, chart_job(**CLAIM_JOB), {"path": "results/2026/out.csv"})
    result = _report(tmp_path, "-o", str(tmp_path / "dir"))
    assert result.returncode == 0, result.stderr
    assert _said(result) == [
        f"daskrun report: out.report.html from pvc/results-pvc:team-a/2026/out.report.html ({len(HTML)} bytes) "
        f"written to {tmp_path / 'dir' / 'out.report.html'}",
        f"daskrun report: out.run.json from pvc/results-pvc:team-a/2026/out.run.json ({len(RECORD)} bytes) "
        f"written to {tmp_path / 'dir' / 'out.run.json'}",
    ]
    assert (tmp_path / "dir" / "out.report.html").read_bytes() == HTML
    assert (tmp_path / "dir" / "out.run.json").read_bytes() == RECORD
    created = [pod["metadata"]["name"] for pod in fake.created_pods]
    assert len(created) == 2 and fake.deleted_pods == created and fake.pods == []


def test_a_file_missing_on_the_claim_is_named_and_its_pod_deleted_too(fake, tmp_path):
    fake.run_pod = Claims(_claim_files(tmp_path, **{"out.run.json": RECORD}))
    _install(fake, chart_job(**CLAIM_JOB), {"path": "results/2026/out.csv"})
    result = _report(tmp_path, "-o", str(tmp_path / "dir"))
    assert result.returncode == 1
    assert "daskrun report: out.report.html not fetched: pvc/results-pvc:team-a/2026/out.report.html: " in result.stderr
    assert "failed reading /home/daskrun/results/2026/out.report.html" in result.stderr
    assert "No such file or directory" in result.stderr
    assert (tmp_path / "dir" / "out.run.json").read_bytes() == RECORD
    assert not (tmp_path / "dir" / "out.report.html").exists()
    assert len(fake.deleted_pods) == 2 and fake.pods == []


def test_a_namespace_that_refuses_reader_pods_is_named_per_file(fake, tmp_path):
    # No run_pod: the stand-in refuses to create pods (404), as a namespace that forbids them would.
    _install(fake, chart_job(**CLAIM_JOB), {"path": "results/out.csv"})
    result = _report(tmp_path, "-o", str(tmp_path / "dir"))
    assert result.returncode == 1
    assert result.stderr.count("cannot create a pod in namespace runs to read pvc/results-pvc") == 2
    assert "2 of 2 report files" in result.stderr


def test_dir_being_a_file_is_refused_before_anything_is_asked(tmp_path):
    (tmp_path / "taken").write_text("mine")
    result = run_cli("report", RELEASE, "-o", str(tmp_path / "taken"), env={"KUBECONFIG": str(tmp_path / "none")})
    assert result.returncode == 2 and "is a file; name a folder" in result.stderr
    assert (tmp_path / "taken").read_text() == "mine"


@pytest.mark.parametrize(
    ("output", "why", "next_time"),
    [
        ({"path": "s3://results/out.csv", "report": False}, "ran with output.report false", "leave output.report out"),
        (None, "has no `output`", "set output.path"),
        (
            {"path": "out.csv"},
            "stored its report at /home/daskrun/out.report.html in the launcher pod",
            "set outputVolume.create: true",
        ),
    ],
    ids=["report-off", "no-output", "in-the-pod"],
)
def test_a_run_without_a_report_to_fetch_says_why_and_makes_no_folder(fake, tmp_path, output, why, next_time):
    _install(fake, chart_job(), output)
    result = _report(tmp_path, "-o", str(tmp_path / "dir"))
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("daskrun report: job/demo-daskrun-r1-ba36968d ")
    assert why in result.stderr and next_time in result.stderr
    assert not (tmp_path / "dir").exists()


def test_a_running_run_is_not_finished(fake, tmp_path):
    _install(fake, chart_job(condition=None), {"path": "s3://results/out.csv"})
    result = _report(tmp_path, "-o", str(tmp_path / "dir"))
    assert result.returncode == 1 and "is running: it has no result yet" in result.stderr


def test_no_run_of_the_release_is_named(fake, tmp_path):
    result = _report(tmp_path, "-o", str(tmp_path / "dir"), "--revision", "4")
    assert result.returncode == 1
    assert "no Job of release demo revision 4 in namespace runs" in result.stderr


def test_an_unreachable_api_server_is_named(tmp_path):
    closed = FakeKube()
    closed.kubeconfig(tmp_path / "kubeconfig")
    closed.server.server_close()  # its port: nothing listens there now
    result = _report(tmp_path, "-o", str(tmp_path / "dir"))
    assert result.returncode == 1 and "daskrun report: cannot reach the Kubernetes API server" in result.stderr


def test_a_bad_revision_is_a_usage_error(tmp_path):
    result = _report(tmp_path, "-o", str(tmp_path), "--revision", "x")
    assert result.returncode == 2 and "expected a Helm revision" in result.stderr


def test_the_folder_is_not_made_for_an_unfinished_run(fake, tmp_path):
    _install(fake, chart_job(condition=None, suspend=True), {"path": "s3://results/out.csv"})
    result = _report(tmp_path, "-o", str(tmp_path / "dir"))
    assert result.returncode == 1 and "is suspended" in result.stderr
    assert not os.path.exists(tmp_path / "dir")
