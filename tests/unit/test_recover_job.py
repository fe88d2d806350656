"""`daskrun recover --job`: the result block of whichever attempt of a retried Job printed it,
read from each pod's log through a real HTTP API (tests/support/fake_kube.py)."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from cli_runner import run_cli
from fake_kube import FakeKube

from daskrun.output import print_result

FRAME = pd.DataFrame({"model": ["a", "b", "c"], "score": [0.5, 0.25, 0.125]})


def _block(df: pd.DataFrame) -> str:
    buffer = io.StringIO()
    print_result(df, buffer)
    return buffer.getvalue()


def _attempt(fake: FakeKube, name: str, created: str, log: str, job: str = "bench-r1") -> None:
    fake.pods.append({"metadata": {"name": name, "namespace": "runs", "creationTimestamp": created,
                                   "labels": {"job-name": job}},
                      "status": {"phase": "Failed"}})
    fake.logs[name] = log


@pytest.fixture
def fake(tmp_path):
    with FakeKube() as fake:
        fake.kubeconfig(tmp_path / "kubeconfig")
        yield fake


def _recover(tmp_path, *args: str):
    return run_cli("recover", *args, env={"KUBECONFIG": str(tmp_path / "kubeconfig")})


def test_the_block_printed_by_the_second_attempt_is_found_though_the_first_has_none(fake, tmp_path):
    _attempt(fake, "bench-r1-aaaaa", "2026-12-02T10:00:00Z",
             "creating DaskCluster\ndaskrun: the Dask cluster did not come up: dask pods are failing\n")
    _attempt(fake, "bench-r1-bbbbb", "2026-12-02T10:01:00Z", "INFO starting\n" + _block(FRAME) + "done\n")
    out = tmp_path / "r.csv"
    result = _recover(tmp_path, "--job", "bench-r1", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "the result of attempt 2 of 2 (pod bench-r1-bbbbb)" in result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out), FRAME)


def test_the_newest_attempt_with_a_block_wins(fake, tmp_path):
    older = FRAME.assign(score=0.0)
    _attempt(fake, "bench-r1-aaaaa", "2026-12-02T10:00:00Z", _block(older))
    _attempt(fake, "bench-r1-ccccc", "2026-12-02T10:02:00Z", "killed before the end\n")
    _attempt(fake, "bench-r1-bbbbb", "2026-12-02T10:01:00Z", _block(FRAME))
    result = _recover(tmp_path, "--job", "bench-r1", "-n", "runs")
    assert result.returncode == 0, result.stderr
    assert "attempt 2 of 3 (pod bench-r1-bbbbb)" in result.stderr
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(result.stdout)), FRAME)


def test_no_attempt_with_a_block_names_every_attempt_read(fake, tmp_path):
    _attempt(fake, "bench-r1-aaaaa", "2026-12-02T10:00:00Z", "nothing here\n")
    _attempt(fake, "bench-r1-bbbbb", "2026-12-02T10:01:00Z", _block(FRAME).rsplit("\n", 3)[0] + "\n")
    result = _recover(tmp_path, "--job", "bench-r1", "-o", str(tmp_path / "r.csv"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("daskrun recover: no attempt of job/bench-r1 printed an intact result block:")
    assert "attempt 2 (pod bench-r1-bbbbb)" in result.stderr and "attempt 1 (pod bench-r1-aaaaa)" in result.stderr
    assert not (tmp_path / "r.csv").exists()


def test_a_job_without_pods_is_named(fake, tmp_path):
    result = _recover(tmp_path, "--job", "nope")
    assert result.returncode == 1
    assert result.stderr.startswith("daskrun recover: job/nope has no pods in namespace runs")


def test_a_log_file_and_a_job_together_are_refused(fake, tmp_path):
    for args in (("run.log", "--job", "bench-r1"), ()):
        result = _recover(tmp_path, *args)
        assert result.returncode == 2
        assert result.stderr == "daskrun recover: give a LOGFILE (or - for stdin), or --job NAME, not both\n"
