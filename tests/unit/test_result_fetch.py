"""`daskrun result`: which run, where its result went (daskrun.result_source), the reader pod's
manifest and output (daskrun.reader_pod), the copy to FILE and the whole command
(daskrun.result_fetch) against a real S3 server (moto) and a real HTTP stand-in for the
Kubernetes API (tests/support/fake_kube.py). The reader pod itself needs a cluster: tests/e2e."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pandas as pd
import pytest
from chart_jobs import FUNCTION, NAMESPACE, RELEASE, chart_config_map, chart_job, reader_output
from cli_runner import run_cli
from fake_kube import FakeKube
from hypothesis import given, settings
from hypothesis import strategies as st

from daskrun.config import parse_config
from daskrun.errors import ConfigError, ExitCode, ResultNotFound, ResultTargetError
from daskrun.manifest import IMAGE_UID
from daskrun.output import print_result
from daskrun.reader_pod import READER_SCRIPT, ReaderPodError, decode_reader_output, reader_pod_manifest, reader_pod_name
from daskrun.result_fetch import (
    SourceMissed,
    check_target,
    config_map_of,
    config_of,
    deliver,
    download_s3,
    job_selector,
    log_recovery,
    pick_run,
)
from daskrun.result_copy import config_map_name, pack
from daskrun.result_copy import manifest as copy_manifest
from daskrun.result_source import (
    FAILED,
    FromClaim,
    FromCopy,
    FromLog,
    FromS3,
    NotFinished,
    launcher_job,
    newest,
    source_for,
)

FRAME = pd.DataFrame({"model": ["a", "b", "c"], "score": [0.5, 0.25, 0.125]})
CLAIM_VALUES = {"existingClaim": "results-pvc", "subPath": "team-a"}


def config(output: dict | None = None):
    return parse_config({"run": FUNCTION, **({"output": output} if output else {})})


def _block(df: pd.DataFrame, fmt: str = "csv") -> str:
    buffer = io.StringIO()
    print_result(df, buffer, fmt)
    return buffer.getvalue()


def lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


# -- which run ---------------------------------------------------------------------------------


def test_the_highest_revision_is_the_newest_run():
    jobs = [launcher_job(chart_job(r, created=f"2026-12-03T1{r}:00:00Z")) for r in (2, 7, 3)]
    assert newest(jobs).revision == 7


def test_among_equal_revisions_the_job_created_last_is_the_newest():
    # `helm template` (Argo CD) renders revision 1 every time; the run hash tells the Jobs apart.
    early = launcher_job(chart_job(1, run_hash="aaaa1111", created="2026-12-03T10:00:00Z"))
    late = launcher_job(chart_job(1, run_hash="bbbb2222", created="2026-12-03T11:00:00Z"))
    assert newest([late, early]) == late and newest([early, late]) == late


def test_the_selector_names_the_release_and_the_revision_label():
    assert job_selector("demo", None) == "app.kubernetes.io/instance=demo,daskrun.io/revision"
    assert job_selector("demo", 4) == "app.kubernetes.io/instance=demo,daskrun.io/revision=4"


def test_no_job_names_the_release_the_namespace_and_helm_list():
    with pytest.raises(ResultNotFound) as caught:
        pick_run([], "demo", "runs", None)
    assert "no Job of release demo in namespace runs" in str(caught.value)
    assert "`helm list -n runs`" in str(caught.value)
    assert caught.value.exit_code == ExitCode.FUNCTION_FAILED


def test_no_job_of_a_revision_names_the_revision():
    with pytest.raises(ResultNotFound, match="release demo revision 3 in namespace runs"):
        pick_run([], "demo", "runs", 3)


# -- its config ----------------------------------------------------------------------------------


def test_the_config_is_read_from_the_configmap_the_job_mounts():
    job_dict = chart_job()
    job = launcher_job(job_dict)
    assert config_map_of(job) == (job_dict["metadata"]["name"], "config.yaml")
    output = {"path": "s3://results/runs/out.csv", "endpoint_url": "http://minio:9000"}
    parsed = config_of(job, chart_config_map(job_dict, {"run": FUNCTION, "output": output})["data"], "configmap/x")
    assert parsed.output is not None and parsed.output.s3_object == ("results", "runs/out.csv")


def test_a_job_without_a_config_volume_is_not_the_charts():
    job_dict = chart_job()
    job_dict["spec"]["template"]["spec"]["volumes"] = []
    with pytest.raises(ResultNotFound, match="not a Job of the daskrun chart"):
        config_map_of(launcher_job(job_dict))


def test_a_configmap_without_the_key_the_job_reads_is_named():
    with pytest.raises(ResultNotFound, match="has no key 'config.yaml'"):
        config_of(launcher_job(chart_job()), {"other.yaml": "{}"}, "configmap/x")


def test_a_config_the_runtime_refuses_is_a_config_error_naming_the_configmap():
    with pytest.raises(ConfigError, match="configmap/x"):
        config_of(launcher_job(chart_job()), {"config.yaml": json.dumps({"run": {"function": "no way"}})}, "configmap/x")


def test_a_configmap_volume_listing_items_maps_the_file_to_its_key():
    job_dict = chart_job()
    spec = job_dict["spec"]["template"]["spec"]
    spec["volumes"][0]["configMap"]["items"] = [{"key": "values.json", "path": "config.yaml"}]
    assert launcher_job(job_dict).config_map_key() == (job_dict["metadata"]["name"], "values.json")


def test_a_configmap_key_mounted_by_subpath_is_that_key():
    job_dict = chart_job()
    container = job_dict["spec"]["template"]["spec"]["containers"][0]
    container["volumeMounts"][0] = {"name": "config", "mountPath": "/etc/daskrun/config.yaml", "subPath": "run.json"}
    assert launcher_job(job_dict).config_map_key() == (job_dict["metadata"]["name"], "run.json")


@pytest.fixture(scope="module")
def rendered():
    """The chart's own Job and ConfigMap (`helm template`; set HELM to a Helm binary)."""
    from chart_render import HELM, one, render_chart, run_job

    if not (shutil.which(HELM) or Path(HELM).is_file()):
        pytest.skip(f"no Helm binary at {HELM} (set HELM)")
    objects = render_chart(
        {"run": FUNCTION, "output": {"path": "results/out.csv"}, "outputVolume": CLAIM_VALUES}, name=RELEASE
    )
    return run_job(objects), one(objects, "ConfigMap")


def test_the_chart_job_helper_matches_the_chart(rendered):
    job_dict, config_map = rendered
    theirs = launcher_job({**job_dict, "status": {"conditions": [{"type": "Complete", "status": "True"}]}})
    run_hash = theirs.name.rsplit("-", 1)[1]
    ours = launcher_job(
        chart_job(claim="results-pvc", sub_path="team-a", output_dir="/home/daskrun/results", run_hash=run_hash)
    )
    assert theirs.mounts == ours.mounts
    assert (theirs.config_file, theirs.working_dir, theirs.revision) == (ours.config_file, ours.working_dir, 1)
    assert theirs.config_map_key() == (config_map["metadata"]["name"], "config.yaml")
    parsed = config_of(theirs, config_map["data"], "configmap")
    assert parsed.output is not None and parsed.output.path == "results/out.csv"
    assert source_for(parsed, theirs) == FromClaim("results-pvc", ours.mount_of("/home/daskrun/results/out.csv"),
                                                   "/home/daskrun/results/out.csv")


# -- where the result is ---------------------------------------------------------------------------


def test_a_running_or_suspended_job_has_no_result_yet():
    for job_dict in (chart_job(condition=None), chart_job(condition=None, suspend=True)):
        source = source_for(config({"path": "s3://results/out.csv"}), launcher_job(job_dict))
        assert isinstance(source, NotFinished) and "kubectl wait" in source.why


def test_without_output_the_result_is_in_the_log():
    source = source_for(config(), launcher_job(chart_job()))
    assert isinstance(source, FromLog) and "no `output`" in source.why


def test_a_failed_job_has_its_result_in_the_log_not_at_the_output_path():
    job = launcher_job(chart_job(condition="Failed"))
    assert job.state == FAILED
    source = source_for(config({"path": "s3://results/out.csv"}), job)
    assert isinstance(source, FromLog) and "PodFailurePolicy: exit 3" in source.why


def test_a_job_failing_whose_pods_still_end_counts_as_failed():
    assert launcher_job(chart_job(condition="FailureTarget")).state == FAILED


def test_s3_outputs_by_url_and_by_bucket():
    job = launcher_job(chart_job())
    by_url = source_for(config({"path": "s3://results/runs/out.csv", "region": "eu-west-1"}), job)
    assert by_url == FromS3("results", "runs/out.csv", endpoint_url=None, region="eu-west-1")
    by_bucket = source_for(config({"path": "/runs/out.parquet", "bucket": "results", "endpoint_url": "http://m:9"}), job)
    assert by_bucket == FromS3("results", "runs/out.parquet", endpoint_url="http://m:9", region=None)
    assert by_bucket.url == "s3://results/runs/out.parquet"


def test_a_relative_path_on_a_subpath_claim_is_read_from_the_claim():
    job = launcher_job(chart_job(claim="results-pvc", sub_path="team-a", output_dir="/home/daskrun/results"))
    source = source_for(config({"path": "results/2026/out.csv"}), job)
    assert isinstance(source, FromClaim)
    assert (source.claim, source.path, source.mount.sub_path) == (
        "results-pvc", "/home/daskrun/results/2026/out.csv", "team-a")
    assert source.where == "pvc/results-pvc:team-a/2026/out.csv"


def test_an_absolute_path_on_a_claim_mounted_at_its_root():
    job = launcher_job(chart_job(claim="data", output_dir="/data"))
    source = source_for(config({"path": "/data/out.parquet"}), job)
    assert isinstance(source, FromClaim) and source.where == "pvc/data:out.parquet"


def test_a_path_beside_the_claim_sharing_its_prefix_is_not_on_it():
    job = launcher_job(chart_job(claim="results-pvc", output_dir="/home/daskrun/results"))
    source = source_for(config({"path": "results2/out.csv"}), job)
    assert isinstance(source, FromCopy) and source.stored.held == "on its home volume, not a PersistentVolumeClaim"


def test_a_path_on_an_emptydir_went_with_the_pod_and_its_copy_is_the_jobs_configmap():
    job = launcher_job(chart_job())
    source = source_for(config({"path": "out.csv"}), job)
    assert isinstance(source, FromCopy) and source.config_map == config_map_name(job.name)
    why = source.stored.why("its result")
    assert "/home/daskrun/out.csv" in why and "outputVolume.existingClaim" in why


def test_a_path_outside_every_mount_went_with_the_pod():
    source = source_for(config({"path": "/srv/out.csv"}), launcher_job(chart_job(claim="c", output_dir="/data")))
    assert isinstance(source, FromCopy)
    assert "/srv/out.csv in the launcher pod (on its own filesystem)" in source.stored.why("its result")


# -- the reader pod ------------------------------------------------------------------------------------


def _claim_source():
    job = launcher_job(chart_job(claim="results-pvc", sub_path="team-a", output_dir="/home/daskrun/results"))
    source = source_for(config({"path": "results/out.csv"}), job)
    assert isinstance(source, FromClaim)
    return job, source


def test_the_reader_pod_is_restricted_and_mounts_the_claim_read_only():
    job, source = _claim_source()
    pod = reader_pod_manifest(job, source, "demo-result-abc")
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert pod["metadata"]["namespace"] == NAMESPACE and container["image"] == job.image
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["runAsUser"] == IMAGE_UID
    # fsGroup would let the kubelet change the claim's ownership: a supplemental group reads alike.
    assert "fsGroup" not in spec["securityContext"] and spec["securityContext"]["supplementalGroups"] == [IMAGE_UID]
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["automountServiceAccountToken"] is False and spec["restartPolicy"] == "Never"
    assert container["volumeMounts"] == [
        {"name": "result", "mountPath": "/home/daskrun/results", "subPath": "team-a", "readOnly": True}
    ]
    assert spec["volumes"] == [{"name": "result", "persistentVolumeClaim": {"claimName": "results-pvc", "readOnly": True}}]
    # The path is an argument of its own, never part of the program text.
    assert container["args"] == ["python3", "-c", READER_SCRIPT, "/home/daskrun/results/out.csv"]
    assert pod["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": job.name, "uid": job.uid}
    ]


def test_the_reader_pod_runs_where_the_job_may_run():
    job_dict = chart_job(claim="c", output_dir="/data")
    spec = job_dict["spec"]["template"]["spec"]
    spec["tolerations"] = [{"key": "gpu", "operator": "Exists"}]
    spec["imagePullSecrets"] = [{"name": "registry"}]
    job = launcher_job(job_dict)
    source = source_for(config({"path": "/data/out.csv"}), job)
    assert isinstance(source, FromClaim)
    pod = reader_pod_manifest(job, source, "x")
    assert pod["spec"]["tolerations"] == spec["tolerations"]
    assert pod["spec"]["imagePullSecrets"] == [{"name": "registry"}]


def test_the_reader_pod_name_is_a_dns_label_for_the_longest_job_name():
    job = launcher_job(chart_job(run_hash="x" * 60))
    name = reader_pod_name(job)
    assert len(name) <= 63 and name != reader_pod_name(job) and "-result-" in name


@pytest.mark.parametrize("size", [0, 1, 57, 58, 100_000])
def test_the_reader_script_output_decodes_to_the_file(tmp_path, size):
    data = os.urandom(size)
    (tmp_path / "out.parquet").write_bytes(data)
    printed = subprocess.run(
        [sys.executable, "-c", READER_SCRIPT, str(tmp_path / "out.parquet")], capture_output=True, check=True
    ).stdout
    sink = io.BytesIO()
    assert decode_reader_output(lines(printed), sink) == size
    assert sink.getvalue() == data and printed == reader_output(data)


def test_the_reader_script_fails_on_a_missing_file(tmp_path):
    result = subprocess.run([sys.executable, "-c", READER_SCRIPT, str(tmp_path / "gone.csv")], capture_output=True)
    assert result.returncode != 0 and b"No such file" in result.stderr and result.stdout == b""


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_round_trip(data):
    sink = io.BytesIO()
    assert decode_reader_output(lines(reader_output(data)), sink) == len(data)
    assert sink.getvalue() == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.data())
def test_any_truncation_is_refused(data, draw):
    whole = reader_output(data)
    cut = draw.draw(st.integers(min_value=0, max_value=len(whole) - 1))
    with pytest.raises(ReaderPodError):
        decode_reader_output(lines(whole[:cut]), io.BytesIO())


def test_a_wrong_size_is_refused():
    printed = b"%d\n" % 10 + base64.encodebytes(b"123456789")
    with pytest.raises(ReaderPodError, match="holds 9 of the file's 10 bytes"):
        decode_reader_output(lines(printed), io.BytesIO())


def test_a_line_that_is_not_base64_is_refused():
    printed = reader_output(b"a,b\n1,2\n") + b"Traceback (most recent call last):\n"
    with pytest.raises(ReaderPodError, match="not base64"):
        decode_reader_output(lines(printed), io.BytesIO())


def test_output_without_the_size_line_is_refused():
    with pytest.raises(ReaderPodError, match="does not start with the file's size"):
        decode_reader_output(lines(base64.encodebytes(b"data")), io.BytesIO())


# -- FILE -----------------------------------------------------------------------------------------------


def test_dash_is_stdout():
    assert check_target("-") is None


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(ResultTargetError, match="is a directory") as caught:
        check_target(str(tmp_path))
    assert caught.value.exit_code == ExitCode.BAD_CONFIG


def test_a_file_in_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(ResultTargetError, match="does not exist"):
        check_target(str(tmp_path / "no" / "r.csv"))


def test_the_file_is_written_whole_or_not_at_all(tmp_path):
    target = tmp_path / "r.csv"
    assert deliver(target, lambda handle: handle.write(b"a,b\n1,2\n")) == 8
    assert target.read_bytes() == b"a,b\n1,2\n"

    def half_then_fail(handle):
        handle.write(b"half")
        raise SourceMissed("the source broke")

    with pytest.raises(SourceMissed):
        deliver(target, half_then_fail)
    assert target.read_bytes() == b"a,b\n1,2\n" and [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_an_unwritable_folder_is_a_target_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permissions do not apply")
        with pytest.raises(ResultTargetError, match="cannot write"):
            deliver(folder / "r.csv", lambda handle: handle.write(b"x"))
    finally:
        folder.chmod(0o700)


def test_stdout_gets_the_bytes_only_when_whole():
    out = io.BytesIO()
    assert deliver(None, lambda handle: handle.write(b"whole"), stdout=out) == 5
    assert out.getvalue() == b"whole"
    out = io.BytesIO()
    with pytest.raises(SourceMissed):
        deliver(None, lambda handle: (handle.write(b"half"), (_ for _ in ()).throw(SourceMissed("x"))), stdout=out)
    assert out.getvalue() == b""


def test_a_log_block_goes_to_the_file_or_stdout_with_its_size(tmp_path):
    log = _block(FRAME).encode().splitlines(keepends=True)
    recover, written = log_recovery(tmp_path / "r.csv")
    recover(iter(log))
    assert written() == (tmp_path / "r.csv").stat().st_size
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "r.csv"), FRAME)
    out = io.BytesIO()
    recover, written = log_recovery(None, stdout=out)
    recover(iter(log))
    assert written() == len(out.getvalue()) == (tmp_path / "r.csv").stat().st_size


# -- S3, with a real server ------------------------------------------------------------------------------


@pytest.fixture
def bucket(moto_server, s3_env):
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="results")
    return s3


def _s3_job(started: datetime | None = None):
    job_dict = chart_job(started=(started or datetime.now(UTC) - timedelta(hours=1)).isoformat())
    return launcher_job(job_dict)


def test_an_object_is_downloaded_with_the_callers_credentials(bucket, moto_server):
    bucket.put_object(Bucket="results", Key="runs/out.csv", Body=b"a,b\n1,2\n")
    out = io.BytesIO()
    download_s3(FromS3("results", "runs/out.csv", moto_server, "us-east-1"), _s3_job(), out)
    assert out.getvalue() == b"a,b\n1,2\n"


def test_a_missing_object_is_a_miss(bucket, moto_server):
    with pytest.raises(SourceMissed, match="no such object"):
        download_s3(FromS3("results", "runs/none.csv", moto_server, None), _s3_job(), io.BytesIO())


def test_a_missing_bucket_is_a_miss_with_s3s_reason(bucket, moto_server):
    with pytest.raises(SourceMissed, match="NoSuchBucket"):
        download_s3(FromS3("absent", "out.csv", moto_server, None), _s3_job(), io.BytesIO())


def test_an_object_older_than_the_run_is_an_earlier_runs(bucket, moto_server):
    bucket.put_object(Bucket="results", Key="out.csv", Body=b"old")
    job = _s3_job(started=datetime.now(UTC) + timedelta(hours=1))
    with pytest.raises(SourceMissed, match="an earlier run's"):
        download_s3(FromS3("results", "out.csv", moto_server, None), job, io.BytesIO())


def test_no_credentials_is_a_miss_saying_whose(moto_server, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(SourceMissed, match="no AWS credentials found here"):
        download_s3(FromS3("results", "out.csv", moto_server, "us-east-1"), _s3_job(), io.BytesIO())


# -- the command, against a real HTTP API stand-in ------------------------------------------------------


@pytest.fixture
def fake(tmp_path):
    with FakeKube() as fake:
        fake.kubeconfig(tmp_path / "kubeconfig")
        yield fake


def _install(fake: FakeKube, job_dict: dict, output: dict | None, logs: tuple[str, ...] = ()) -> str:
    name = job_dict["metadata"]["name"]
    fake.jobs[name] = job_dict
    fake.config_maps[name] = chart_config_map(job_dict, {"run": FUNCTION, **({"output": output} if output else {})})
    for n, log in enumerate(logs):
        pod = f"{name}-{n}"
        fake.pods.append({"metadata": {"name": pod, "namespace": NAMESPACE, "labels": {"job-name": name},
                                       "creationTimestamp": f"2026-12-03T10:0{n}:00Z"}, "status": {"phase": "Failed"}})
        fake.logs[pod] = log
    return name


def _result(tmp_path, *args: str):
    return run_cli("result", RELEASE, *args, env={"KUBECONFIG": str(tmp_path / "kubeconfig")})


def test_the_s3_result_of_the_newest_run_is_written(fake, tmp_path, bucket, moto_server):
    output = {"path": "s3://results/runs/out.csv", "endpoint_url": moto_server}
    bucket.put_object(Bucket="results", Key="runs/out.csv", Body=b"a,b\n1,2\n")
    _install(fake, chart_job(1, run_hash="11111111"), {"path": "s3://results/old.csv", "endpoint_url": moto_server})
    _install(fake, chart_job(2, started=(datetime.now(UTC) - timedelta(minutes=5)).isoformat()), output)
    result = _result(tmp_path, "-o", str(tmp_path / "r.csv"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r.csv").read_bytes() == b"a,b\n1,2\n"
    assert result.stderr.strip().endswith(
        f"daskrun: result of demo revision 2 from s3://results/runs/out.csv (8 bytes) written to {tmp_path / 'r.csv'}"
    )
    assert "testing" not in result.stderr  # the AWS secret of s3_env


def test_a_missing_object_falls_back_to_the_log(fake, tmp_path, bucket, moto_server):
    _install(fake, chart_job(3), {"path": "s3://results/none.csv", "endpoint_url": moto_server},
             logs=("starting\n" + _block(FRAME),))
    result = _result(tmp_path, "-o", "-", "-n", NAMESPACE)
    assert result.returncode == 0, result.stderr
    assert "s3://results/none.csv: no such object; reading the log" in result.stderr
    assert "from the log of pod demo-daskrun-r3-ba36968d-0 (attempt 1 of 1)" in result.stderr
    assert "written to stdout" in result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(result.stdout)), FRAME)


def test_revision_picks_that_run(fake, tmp_path):
    _install(fake, chart_job(1, run_hash="11111111"), None, logs=(_block(FRAME),))
    _install(fake, chart_job(2), None, logs=(_block(FRAME.iloc[:1]),))
    result = _result(tmp_path, "-o", str(tmp_path / "r.csv"), "--revision", "1")
    assert result.returncode == 0, result.stderr
    assert "result of demo revision 1 from the log of pod demo-daskrun-r1-11111111-0" in result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "r.csv"), FRAME)


def test_nothing_anywhere_names_what_was_tried(fake, tmp_path):
    _install(fake, chart_job(), {"path": "results/out.csv"}, logs=("INFO stored\n",))
    result = _result(tmp_path, "-o", str(tmp_path / "r.csv"))
    assert result.returncode == 1 and result.stdout == ""
    assert "no copy of the result of release demo revision 1" in result.stderr
    assert "- configmap/demo-daskrun-r1-ba36968d-result: no such ConfigMap" in result.stderr
    assert "the run stored its result at /home/daskrun/results/out.csv in the launcher pod" in result.stderr
    assert "- the log: no attempt of job/demo-daskrun-r1-ba36968d printed an intact result block" in result.stderr
    assert not (tmp_path / "r.csv").exists()


def test_no_run_of_the_release_is_named(fake, tmp_path):
    result = _result(tmp_path, "-o", str(tmp_path / "r.csv"))
    assert result.returncode == 1
    assert "no Job of release demo in namespace runs" in result.stderr and "helm list -n runs" in result.stderr


def test_a_running_run_is_waited_for_not_read(fake, tmp_path):
    _install(fake, chart_job(condition=None), None)
    result = _result(tmp_path, "-o", str(tmp_path / "r.csv"))
    assert result.returncode == 1 and "is running: it has no result yet" in result.stderr


def test_o_directory_is_refused_before_anything_is_asked(tmp_path):
    result = _result(tmp_path, "-o", str(tmp_path))
    assert result.returncode == 2 and "is a directory" in result.stderr


def test_a_bad_revision_is_a_usage_error(tmp_path):
    result = _result(tmp_path, "-o", "-", "--revision", "0")
    assert result.returncode == 2 and "expected a Helm revision" in result.stderr


def test_an_unreachable_api_server_is_named(tmp_path):
    closed = FakeKube()
    closed.kubeconfig(tmp_path / "kubeconfig")
    closed.server.server_close()  # its port: nothing listens there now
    result = _result(tmp_path, "-o", str(tmp_path / "r.csv"))
    assert result.returncode == 1 and "cannot reach the Kubernetes API server" in result.stderr


def test_a_claim_the_reader_pod_cannot_read_falls_back_to_the_log(fake, tmp_path):
    # The stand-in API refuses to create pods (404), as a namespace that forbids them would.
    job_dict = chart_job(claim="results-pvc", sub_path="team-a", output_dir="/home/daskrun/results")
    _install(fake, job_dict, {"path": "results/out.csv"}, logs=(_block(FRAME),))
    result = _result(tmp_path, "-o", str(tmp_path / "r.csv"))
    assert result.returncode == 0, result.stderr
    assert "pvc/results-pvc:team-a/out.csv: cannot create a pod in namespace runs to read pvc/results-pvc" in result.stderr
    assert "; reading the log" in result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "r.csv"), FRAME)


def _copy_of(job_dict: dict, data: bytes) -> dict:
    from daskrun.context import RunContext

    name = job_dict["metadata"]["name"]
    return copy_manifest(pack([data]), "csv", "/home/daskrun/out.csv", RunContext(namespace=NAMESPACE), name)


def test_a_file_that_went_with_the_pod_comes_from_the_jobs_configmap(fake, tmp_path):
    name = _install(fake, chart_job(), {"path": "out.csv"})  # no pod, no log: only the copy is left
    data = FRAME.to_csv(index=False).encode()
    fake.config_maps[config_map_name(name)] = _copy_of(fake.jobs[name], data)
    result = _result(tmp_path, "-o", str(tmp_path / "r.csv"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r.csv").read_bytes() == data
    assert f"from configmap/{config_map_name(name)} ({len(data)} bytes)" in result.stderr


def test_no_copy_falls_back_to_the_log_saying_why(fake, tmp_path):
    name = _install(fake, chart_job(), {"path": "out.csv"}, logs=(_block(FRAME),))
    result = _result(tmp_path, "-o", str(tmp_path / "r.csv"))
    assert result.returncode == 0, result.stderr
    assert f"configmap/{config_map_name(name)}: no such ConfigMap: the launcher kept no copy there" in result.stderr
    assert "; reading the log" in result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "r.csv"), FRAME)


def test_a_copy_that_is_not_whole_is_not_written_and_the_log_is_read(fake, tmp_path):
    name = _install(fake, chart_job(), {"path": "out.csv"}, logs=(_block(FRAME),))
    edited = _copy_of(fake.jobs[name], b"model,score\nz,9\n")
    edited["binaryData"] = _copy_of(fake.jobs[name], b"model,score\nz,8\n")["binaryData"]
    fake.config_maps[config_map_name(name)] = edited
    result = _result(tmp_path, "-o", str(tmp_path / "r.csv"))
    assert result.returncode == 0, result.stderr
    assert "not a whole copy of the result: its result.gz does not match the sha256" in result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "r.csv"), FRAME)


def test_a_job_that_does_not_run_a_config_file_is_not_the_charts():
    job_dict = chart_job()
    job_dict["spec"]["template"]["spec"]["containers"][0]["args"] = ["daskrun", "run", "--local"]
    with pytest.raises(ResultNotFound, match="not a Job of the daskrun chart"):
        config_map_of(launcher_job(job_dict))
