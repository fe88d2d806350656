"""When the driver's watchdog deletes its run's DaskCluster: only once the Job starts no
launcher again."""

import pytest

from daskrun.watchdog import ENV_CLUSTER, ENV_JOB, ENV_NAMESPACE, Watchdog, run_over


def job(*conditions, suspend=False):
    return {"metadata": {"name": "bench-r1-abc"}, "spec": {"suspend": suspend},
            "status": {"conditions": [{"type": kind, "status": status, "reason": "R"} for kind, status in conditions]}}


@pytest.mark.parametrize(
    ("found", "over"),
    [
        (job(), None),
        (job(("FailureTarget", "True")), None),  # not yet Failed: a last pod may still be ending
        (job(("Failed", "False")), None),
        (job(("Failed", "True")), "Job bench-r1-abc is Failed (R)"),
        (job(("Complete", "True")), "Job bench-r1-abc is Complete (R)"),
        (job(suspend=True), "Job bench-r1-abc was suspended"),
        ({"metadata": {"name": "j"}}, None),
    ],
)
def test_the_run_is_over_only_when_the_job_will_start_no_launcher(found, over):
    assert run_over(found) == over


def test_no_watchdog_without_a_job(monkeypatch):
    for name in (ENV_JOB, ENV_CLUSTER, ENV_NAMESPACE):
        monkeypatch.delenv(name, raising=False)
    assert Watchdog.from_env() is None
    monkeypatch.setenv(ENV_JOB, "j")
    monkeypatch.setenv(ENV_CLUSTER, "j")
    monkeypatch.setenv(ENV_NAMESPACE, "ns")
    guard = Watchdog.from_env()
    assert (guard.job, guard.cluster, guard.namespace) == ("j", "j", "ns")
