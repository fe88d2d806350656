"""`daskrun logs` and `daskrun status` against a real HTTP API stand-in
(tests/support/fake_kube.py): which attempts are shown, how they are marked, and following a
run into the Job's next pod (daskrun.launcher_logs.follow, with the API calls handed in)."""

from __future__ import annotations

import io
import json

import pytest
from cli_runner import run_cli
from fake_kube import FakeKube

from daskrun import launcher_logs
from daskrun.job_logs import Attempt
from daskrun.result_source import FAILED, RUNNING, SUCCEEDED

NAMESPACE, RELEASE, JOB = "runs", "bench", "bench-daskrun-r2-abcdef12"


def job(condition: str | None = "Complete") -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": JOB, "namespace": NAMESPACE, "uid": "u", "creationTimestamp": "2026-12-03T10:00:00Z",
                         "labels": {"app.kubernetes.io/instance": RELEASE, "daskrun.io/revision": "2"}},
            "spec": {"template": {"spec": {"containers": [{"name": "daskrun", "image": "daskrun:x"}]}}},
            "status": {"startTime": "2026-12-03T10:00:00Z",
                       "conditions": [{"type": condition, "status": "True"}] if condition else []}}


@pytest.fixture
def fake(tmp_path):
    with FakeKube() as fake:
        fake.kubeconfig(tmp_path / "kubeconfig")
        fake.jobs[JOB] = job()
        yield fake


def attempt(fake: FakeKube, n: int, log: str) -> str:
    pod = f"{JOB}-{n}"
    fake.pods.append({"metadata": {"name": pod, "namespace": NAMESPACE, "labels": {"job-name": JOB},
                                   "creationTimestamp": f"2026-12-03T10:0{n}:00Z"},
                      "status": {"phase": "Failed" if n < 3 else "Succeeded"}})
    fake.logs[pod] = log
    return pod


def cli(tmp_path, *args):
    return run_cli(*args, env={"KUBECONFIG": str(tmp_path / "kubeconfig")})


def test_one_attempt_is_its_log_unmarked(fake, tmp_path):
    attempt(fake, 1, "only attempt\n")
    shown = cli(tmp_path, "logs", RELEASE)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "only attempt\n"


def test_the_newest_attempt_by_default_and_every_one_oldest_first_on_request(fake, tmp_path):
    for n in (2, 1, 3):
        attempt(fake, n, f"log of attempt {n}\n")
    newest = cli(tmp_path, "logs", RELEASE, "-n", NAMESPACE)
    assert newest.stdout == f"==> attempt 3 of 3: pod {JOB}-3 <==\nlog of attempt 3\n", newest.stderr
    every = cli(tmp_path, "logs", RELEASE, "--all-attempts")
    assert every.stdout == "".join(f"==> attempt {n} of 3: pod {JOB}-{n} <==\nlog of attempt {n}\n"
                                   for n in (1, 2, 3))


def test_follow_on_a_finished_run_prints_the_log_and_says_how_it_ended(fake, tmp_path):
    attempt(fake, 1, "first\n")
    attempt(fake, 3, "last\n")
    followed = cli(tmp_path, "logs", RELEASE, "-f", "--all-attempts")
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout == f"==> attempt 1 of 2: pod {JOB}-1 <==\nfirst\n==> attempt 2 of 2: pod {JOB}-3 <==\nlast\n"
    assert f"job/{JOB} has {SUCCEEDED}" in followed.stderr


def test_no_run_of_the_release_is_named_with_helm_list(fake, tmp_path):
    shown = cli(tmp_path, "logs", "other")
    assert shown.returncode == 1
    assert "no Job of release other in namespace runs" in shown.stderr and "helm list -n runs" in shown.stderr


def test_a_job_without_pods_says_so(fake, tmp_path):
    shown = cli(tmp_path, "logs", RELEASE)
    assert shown.returncode == 1 and "has no pods" in shown.stderr


def test_following_goes_on_into_the_next_attempt_until_the_job_ends(monkeypatch):
    first, second = Attempt("p-1", 1, 1), Attempt("p-2", 2, 2)
    states = iter([RUNNING, RUNNING, FAILED])
    listed = iter([[first], [second, first]])
    logs = {"p-1": [b"one\n"], "p-2": [b"two\n", b"three\n"]}
    still = {"p-1": False}
    out = io.BytesIO()
    monkeypatch.setattr(launcher_logs, "POLL", 0)
    ended = launcher_logs.follow(
        NAMESPACE, JOB, [first], out,
        state=lambda ns, j: next(states),
        pods=lambda ns, j: next(listed),
        followed=lambda ns, pod: iter(logs.pop(pod, [])),
        running=lambda ns, pod: still.get(pod, False),
    )
    assert ended == FAILED
    assert out.getvalue() == b"one\n==> attempt 2 of 2: pod p-2 <==\ntwo\nthree\n"


def test_status_lists_the_run_as_json(fake, tmp_path):
    attempt(fake, 3, "2026-12-03 10:00:05,000 INFO    daskrun.runner: result (3 rows x 2 columns) stored at "
                     "s3://b/r.csv\n")
    shown = cli(tmp_path, "status", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    [run] = json.loads(shown.stdout)
    assert (run["release"], run["revision"], run["phase"], run["result"]) == (RELEASE, "2", SUCCEEDED, "s3://b/r.csv")
    table = cli(tmp_path, "status", RELEASE)
    assert table.stdout.splitlines()[1].split()[:3] == [RELEASE, "2", SUCCEEDED]
    assert cli(tmp_path, "status", "other").returncode == 1


def test_a_stream_cut_while_the_pod_runs_is_not_printed_twice(monkeypatch):
    only = Attempt("p-1", 1, 1)
    states = iter([RUNNING, SUCCEEDED])
    reads = iter([[b"one\ntw"], [b"one\n", b"two\nthree\n"]])  # the second read starts at the start again
    out = io.BytesIO()
    monkeypatch.setattr(launcher_logs, "POLL", 0)
    ended = launcher_logs.follow(NAMESPACE, JOB, [only], out, state=lambda ns, j: next(states),
                                 pods=lambda ns, j: [only], followed=lambda ns, pod: iter(next(reads)),
                                 running=lambda ns, pod: True)
    assert ended == SUCCEEDED and out.getvalue() == b"one\ntwo\nthree\n"
