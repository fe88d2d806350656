"""Which failed starts of a Dask pod the kubelet's restart may mend, and which end the run."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from daskrun.bootstrap import SETUP_FAILED_EXIT
from daskrun.pod_starts import START_RETRIES, Verdict, container_verdict, read_pod


def _pod(*statuses: dict) -> dict:
    return {"status": {"containerStatuses": list(statuses)}}


def _no_log(container: str, previous: bool) -> str:
    return ""


def _exited(code: int, reason: str = "Error", restarts: int = 0) -> dict:
    return {"name": "worker", "restartCount": restarts, "state": {"terminated": {"exitCode": code, "reason": reason}}}


def _backing_off(code: int, restarts: int, reason: str = "Error") -> dict:
    return {"name": "worker", "restartCount": restarts,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}},
            "lastState": {"terminated": {"exitCode": code, "reason": reason}}}


def test_a_healthy_or_starting_pod_has_nothing_to_say():
    for status in ({"name": "worker", "state": {"running": {}}},
                   {"name": "worker", "state": {"waiting": {"reason": "ContainerCreating"}}}):
        assert read_pod("w-1", _pod(status), _no_log).problems == []
        assert read_pod("w-1", _pod(status), _no_log).restarts == {}
    assert read_pod("w-1", {"status": {}}, _no_log).problems == []


def test_an_image_that_cannot_be_pulled_fails_at_once_with_the_kubelets_message():
    waiting = {"name": "worker", "state": {"waiting": {"reason": "ImagePullBackOff",
                                                       "message": 'Back-off pulling image "nope:1"'}}}
    assert read_pod("w-1", _pod(waiting), _no_log).problems == ['pod w-1: ImagePullBackOff Back-off pulling image "nope:1"']


def test_a_nanny_that_failed_to_start_is_restarted_and_named_with_its_whole_log():
    log = "\n".join(f"line {i}" for i in range(60)) + "\nRuntimeError: Nanny failed to start."
    asked = []

    def logs(container: str, previous: bool) -> str:
        asked.append((container, previous))
        return log

    found = read_pod("w-1", _pod(_exited(1)), logs)
    assert found.problems == []
    [(key, notice)] = found.restarts.items()
    assert key == ("w-1", "worker", 1)
    assert notice.startswith("pod w-1: exited Error (exit code 1)\n    last log lines:\n    line 0\n")
    assert "RuntimeError: Nanny failed to start." in notice
    assert notice.endswith(f"failed start 1 of {START_RETRIES + 1}: the kubelet restarts it")
    assert asked == [("worker", False)]  # down right now: its own log first


def test_a_container_backing_off_after_a_failure_reads_the_previous_instances_log():
    logs = {True: "Timed out trying to connect to tcp://run-scheduler.ns.svc.cluster.local:8786", False: ""}
    found = read_pod("w-1", _pod(_backing_off(1, restarts=1)), lambda c, previous: logs[previous])
    [(key, notice)] = found.restarts.items()
    assert key == ("w-1", "worker", 2)
    assert "CrashLoopBackOff back-off 10s (exit code 1)" in notice
    assert "Timed out trying to connect" in notice


def test_the_third_failed_start_of_one_container_fails_the_run():
    assert container_verdict(_exited(1, restarts=START_RETRIES - 1)).state == "restarting"
    assert container_verdict(_backing_off(1, restarts=START_RETRIES - 1)).state == "restarting"
    third = container_verdict(_exited(1, restarts=START_RETRIES))
    assert (third.state, third.failures) == ("failed", START_RETRIES + 1)
    assert container_verdict(_backing_off(1, restarts=START_RETRIES)).state == "failed"
    [problem] = read_pod("w-1", _pod(_backing_off(1, restarts=START_RETRIES)), _no_log).problems
    assert problem == "pod w-1: CrashLoopBackOff back-off 10s (exit code 1)"


def test_a_failed_setup_step_fails_at_once_a_restart_would_fail_the_same_way():
    verdict = container_verdict(_exited(SETUP_FAILED_EXIT))
    assert (verdict.state, verdict.failures) == ("failed", 1)
    logs = {True: "", False: "daskrun-setup: step 'pip_packages' failed with exit code 1"}
    [problem] = read_pod("w-1", _pod(_exited(SETUP_FAILED_EXIT)), lambda c, previous: logs[previous]).problems
    assert f"(exit code {SETUP_FAILED_EXIT})" in problem and "step 'pip_packages' failed" in problem


def test_a_container_running_again_after_failed_starts_is_told_never_failed():
    recovered = {"name": "worker", "restartCount": START_RETRIES + 3, "state": {"running": {}},
                 "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    assert container_verdict(recovered) == Verdict("restarted", START_RETRIES + 3, "Error (exit code 1)", True)
    logs = {True: "RuntimeError: Nanny failed to start.", False: "worker running"}
    found = read_pod("w-1", _pod(recovered), lambda container, previous: logs[previous])
    assert found.problems == []
    [notice] = found.restarts.values()
    assert "pod w-1: Error (exit code 1)" in notice and "Nanny failed to start." in notice
    assert "the kubelet restarted it, running again" in notice


def test_a_container_running_after_a_clean_exit_is_fine():
    again = {"name": "worker", "restartCount": 1, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    assert container_verdict(again).state == "ok"


def test_an_unreadable_log_leaves_the_reason():
    def logs(container: str, previous: bool) -> str:
        raise ConnectionError("kubelet unreachable")

    found = read_pod("w-1", _pod(_exited(137, "OOMKilled", restarts=START_RETRIES)), logs)
    assert found.problems == ["pod w-1: exited OOMKilled (exit code 137)"]


_REASONS = st.sampled_from(["Error", "OOMKilled", "StartError", "ContainerCannotRun", "Completed"])
_WAITING = st.sampled_from(["CrashLoopBackOff", "ContainerCreating", "ImagePullBackOff", "ErrImagePull",
                            "CreateContainerError", "PodInitializing"])


@st.composite
def _statuses(draw) -> dict:
    status: dict = {"name": "worker", "restartCount": draw(st.integers(0, 10))}
    terminated = {"exitCode": draw(st.sampled_from([0, 1, 2, 86, 128, 137, 143])), "reason": draw(_REASONS)}
    state = draw(st.sampled_from(["running", "waiting", "terminated"]))
    if state == "running":
        status["state"] = {"running": {}}
    elif state == "waiting":
        status["state"] = {"waiting": {"reason": draw(_WAITING)}}
    else:
        status["state"] = {"terminated": terminated}
    if draw(st.booleans()):
        status["lastState"] = {"terminated": {**terminated, "exitCode": draw(st.sampled_from([0, 1, 86, 137]))}}
    return status


@given(_statuses())
def test_a_run_fails_only_for_a_failure_no_restart_mends_or_one_that_repeated(status):
    verdict = container_verdict(status)
    waiting = (status["state"].get("waiting") or {}).get("reason")
    if verdict.state == "failed":
        assert waiting in {"ImagePullBackOff", "ErrImagePull", "CreateContainerError"} or (
            verdict.failures > START_RETRIES or f"exit code {SETUP_FAILED_EXIT}" in verdict.what)
    if "running" in status["state"]:
        assert verdict.state in ("ok", "restarted")
    if verdict.state == "restarting":
        assert 1 <= verdict.failures <= START_RETRIES and "exit code" in verdict.what
