"""`daskrun watch` and `submit --wait`: the display (daskrun.watch_view) from RunStatus values,
and the watching itself against a fake API server on loopback whose run moves on while it is
watched -- in a real terminal (tmux), through a pipe, and stopped with Ctrl-C. The same command
against a real run is in tests/e2e (test_watch_e2e)."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli_runner import REPO, as_at_a_terminal
from fake_kube import FakeKube
from terminal import Terminal

from daskrun import timeline, watch_view
from daskrun.errors import ExitCode
from daskrun.job_logs import RUN_CONTAINER
from daskrun.run_labels import INSTANCE_LABEL, REVISION_LABEL
from daskrun.run_status import RunStatus

JOB = "bench-daskrun-r3"


def status(**changes) -> RunStatus:
    base = RunStatus(namespace="runs", release="bench", revision="3", job=JOB, phase="running", exit_code=None,
                     reason="", attempt=1, workers=2, workers_wanted=2, tasks_done=10, tasks_total=40,
                     progress_at="2026-12-03 11:00:00,000", elapsed_seconds=75.0, result="not yet")
    return dataclasses.replace(base, **changes)


def at(second: int) -> str:
    return f"2026-12-03 11:{second // 60:02d}:{second % 60:02d},000"


# --- the display ---------------------------------------------------------------------------

def test_the_rate_is_timed_by_the_launchers_log_not_by_the_polling():
    rate = watch_view.Rate()
    rate.add(status(tasks_done=10, progress_at=at(0)))
    assert rate.per_second() is None  # one count is no rate
    rate.add(status(tasks_done=10, progress_at=at(0)))  # polled again, the same log line
    rate.add(status(tasks_done=30, progress_at=at(10)))
    assert rate.per_second() == 2.0
    assert watch_view.eta_seconds(status(tasks_done=30), rate.per_second()) == 5.0


def test_a_new_attempt_counting_from_zero_starts_a_new_rate():
    rate = watch_view.Rate()
    for second, done in ((0, 10), (10, 30), (20, 2), (30, 12)):
        rate.add(status(tasks_done=done, progress_at=at(second)))
    assert rate.per_second() == 1.0


@given(st.lists(st.tuples(st.integers(1, 600), st.integers(0, 10**6)), max_size=40),
       st.floats(1, 10**4))
def test_rate_and_eta_are_never_negative_nor_undefined(samples, window):
    rate, second, done = watch_view.Rate(window), 0, 0
    for step, more in samples:
        second, done = second + step, done + more
        rate.add(status(tasks_done=done, tasks_total=done * 2, progress_at=at(second % 3600)))
    per_second = rate.per_second()
    assert per_second is None or per_second >= 0
    eta = watch_view.eta_seconds(status(tasks_done=done, tasks_total=done * 2), per_second)
    assert eta is None or eta >= 0


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, 80))
def test_the_bar_keeps_its_width_whatever_the_counts(done, total, width):
    drawn = watch_view.bar(done, total, width)
    assert len(drawn) == width + 2 and set(drawn[1:-1]) <= {"#", "-"}
    if total and done >= total:
        assert "-" not in drawn


@given(st.integers(12, 300), st.text(max_size=300), st.sampled_from(["pending", "waiting for workers", "running"]))
def test_no_line_of_the_display_wraps(columns, reason, phase):
    # A wrapped line would leave the redraw one line off: every later frame garbled.
    lines = watch_view.terminal_lines(status(phase=phase, reason=reason.replace("\n", " ")), 3.0, columns)
    assert all(len(line) < columns for line in lines)


def test_the_display_says_phase_workers_bar_rate_and_eta():
    head, tasks = watch_view.terminal_lines(status(attempt=2), 2.0, 200)
    assert head == "bench revision 3 (runs): running, attempt 2 · 1m15s"
    assert tasks == "workers 2/2  [#######-----------------------] 10/40 tasks  2 tasks/s, ETA 0m15s"
    waiting = status(phase="waiting for workers", reason="1 worker pod Pending for 30s: 0/1 nodes are available")
    assert watch_view.terminal_lines(waiting, None, 200)[-1] == f"waiting: {waiting.reason}"
    assert "1 worker pod Pending" in watch_view.plain_line(waiting, None)


@pytest.mark.parametrize(("end", "says", "next_command"), [
    (status(phase="succeeded", exit_code=0, reason="result stored", result="s3://b/r.csv"),
     "succeeded (exit 0: result stored)", "next: daskrun result bench -n runs -o FILE"),
    (status(phase="succeeded", exit_code=0, result="none (the function returned None)"),
     "succeeded (exit 0)", "next: daskrun logs bench -n runs"),
    (status(phase="failed", exit_code=3, reason="not stored", result="in the log"),
     "failed (exit 3: not stored)", "next: daskrun result bench -n runs -o FILE   (the result is in the log)"),
    (status(phase="failed", exit_code=1, reason="the function raised"),
     "failed (exit 1: the function raised)", "next: daskrun logs bench -n runs --all-attempts"),
    (status(phase="failed", exit_code=None, reason="BackoffLimitExceeded"),
     "failed (exit 1: BackoffLimitExceeded)", "next: daskrun logs bench -n runs --all-attempts"),
])
def test_the_end_says_the_outcome_its_code_and_what_to_type_next(end, says, next_command):
    ended = watch_view.outcome(end)
    assert ended.exit_code == (end.exit_code if end.exit_code is not None else 1)
    assert says in ended.lines[0] and ended.lines[-1].startswith(next_command)


# --- watching a run that moves on ----------------------------------------------------------

def log_line(logger: str, message: str, second: int) -> str:
    return f"{at(second)} INFO    {logger}: {message}\n"


RUNNING = "".join(log_line("daskrun.timeline", f"phase: {p} at +1.0s", 1)
                  for p in (timeline.CONFIG_LOADED, timeline.CLUSTER_CREATED, timeline.ALL_WORKERS,
                            timeline.FUNCTION_STARTED)) + log_line("daskrun.cluster", "workers joined: 2/2", 2)


def progress(done: int, second: int) -> str:
    return log_line("daskrun.progress", f"progress: {done}/40 tasks done, 2 running, 0 waiting, 0 erred; 2 workers",
                    second)


class Run:
    """The run of release bench, revision 3, as the fake API server shows it; `advance` moves it."""

    def __init__(self, kube: FakeKube):
        self.kube = kube
        kube.jobs[JOB] = {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": JOB, "namespace": "runs", "labels": {INSTANCE_LABEL: "bench", REVISION_LABEL: "3"}},
            "spec": {"template": {"spec": {"containers": []}}},
            "status": {"active": 1, "startTime": "2026-12-03T11:00:00Z"},
        }
        kube.pods = [{
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "bench-a", "namespace": "runs", "labels": {"job-name": JOB},
                         "creationTimestamp": "2026-12-03T11:00:00Z"},
            "spec": {"containers": [{"name": RUN_CONTAINER}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": RUN_CONTAINER, "ready": True, "restartCount": 0, "image": "daskrun", "imageID": "",
                 "state": {"running": {}}}]},
        }]
        kube.logs["bench-a"] = RUNNING + progress(10, 10)

    def advance(self, done: int, second: int) -> None:
        self.kube.logs["bench-a"] += progress(done, second)

    def end(self, exit_code: int) -> None:
        self.kube.logs["bench-a"] += log_line("daskrun.runner", "result (8 rows x 2 columns) stored at s3://b/r.csv",
                                              90) if exit_code == 0 else ""
        [pod] = self.kube.pods
        pod["status"]["phase"] = "Succeeded" if exit_code == 0 else "Failed"
        pod["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": exit_code}}
        condition = "Complete" if exit_code == 0 else "Failed"
        self.kube.jobs[JOB]["status"] = {
            "startTime": "2026-12-03T11:00:00Z", "completionTime": "2026-12-03T11:01:30Z",
            "conditions": [{"type": condition, "status": "True", "reason": condition,
                            "lastTransitionTime": "2026-12-03T11:01:30Z"}]}


@pytest.fixture
def run(tmp_path, monkeypatch):
    with FakeKube() as kube:
        config = kube.kubeconfig(tmp_path / "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(config))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        yield Run(kube)


def wait_for(seen, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not seen():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_in_a_real_terminal_the_bar_moves_the_eta_appears_and_the_end_names_the_outcome(run):
    with Terminal(columns=110) as terminal:
        terminal.start([sys.executable, "-m", "daskrun", "watch", "bench"],
                       {"KUBECONFIG": os.environ["KUBECONFIG"], "PYTHONPATH": str(REPO / "runtime")})
        first = terminal.wait_for(lambda s: "10/40 tasks" in s, 60, "the first count")
        run.advance(20, 20)
        second = terminal.wait_for(lambda s: "20/40 tasks" in s and "ETA" in s, 60, "the bar to move")
        assert first != second
        assert re.search(r"\[#{15}-{15}\] 20/40 tasks  1 tasks/s, ETA 0m20s", second), second
        # Redrawn in place: one display on the screen, not a scroll of them.
        assert second.count("bench revision 3 (runs): running") == 1 and "10/40" not in second
        run.end(0)
        assert terminal.wait_exit(60) == 0
        final = terminal.screen()
        assert "bench revision 3 succeeded (exit 0: " in final and "result: s3://b/r.csv" in final
        assert "next: daskrun result bench -n runs -o FILE" in final


def test_through_a_pipe_it_writes_plain_timestamped_lines_and_exits_with_the_runs_code(run):
    out, code, watcher = watching()
    wait_for(lambda: "10/40 tasks" in out.getvalue(), 30, "the first line")
    run.advance(20, 20)
    wait_for(lambda: "20/40 tasks" in out.getvalue(), 30, "the second count")
    run.end(ExitCode.FUNCTION_FAILED)
    watcher.join(30)
    assert code == [1]
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line) for line in lines), lines
    # A line when something changed, not one per poll.
    assert sum("10/40 tasks" in line for line in lines) == 1
    assert "failed (exit 1: " in lines[-3] and lines[-1].endswith("daskrun logs bench -n runs --all-attempts")


def watch_run(out) -> int:
    from daskrun.watch import watch

    return watch("bench", "runs", out=out, terminal=False, poll=0.05)


def watching() -> tuple[io.StringIO, list[int], threading.Thread]:
    """`daskrun watch bench` into a pipe-like buffer, in a thread: its output, its exit code
    (once it ended) and the thread to join."""
    out, code = io.StringIO(), []
    watcher = threading.Thread(target=lambda: code.append(watch_run(out)))
    watcher.start()
    return out, code, watcher


def test_a_child_started_as_at_a_terminal_gets_ctrl_c_even_when_this_process_ignores_it():
    probe = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"]
    saved = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under `make test &`
    try:
        inherited = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
        restored = subprocess.run(probe, capture_output=True, text=True, check=True,
                                  preexec_fn=as_at_a_terminal).stdout.strip()
    finally:
        signal.signal(signal.SIGINT, saved)
    assert (inherited, restored) == ("False", "True")


def test_ctrl_c_stops_the_watching_and_leaves_the_run_alone(run):
    watcher = subprocess.Popen(preexec_fn=as_at_a_terminal, args=[sys.executable, "-m", "daskrun", "watch", "bench", "-n", "runs"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = watcher.stdout.readline()
    assert "10/40 tasks" in first
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 130, err
    assert "stopped watching; the run goes on: daskrun watch bench -n runs" in out
    assert run.kube.created_pods == [] and run.kube.deleted_pods == [] and JOB in run.kube.jobs


def test_a_release_with_no_run_is_a_clear_error(run):
    from cli_runner import run_cli

    done = run_cli("watch", "nosuch", "-n", "runs")
    assert done.returncode == 1
    assert "no run of release nosuch in namespace runs (helm list -n runs)" in done.stderr
    done = run_cli("watch", "bench", "--revision", "7")
    assert done.returncode == 1 and "no run of revision 7 of release bench" in done.stderr


def test_a_run_removed_while_watched_ends_the_watch_and_says_so(run):
    out, code, watcher = watching()
    wait_for(lambda: "10/40 tasks" in out.getvalue(), 30, "the first line")
    del run.kube.jobs[JOB]
    watcher.join(30)
    assert code == [1] and f"job/{JOB} is gone (helm uninstall" in out.getvalue()


def test_an_api_server_away_for_a_moment_is_said_and_the_watch_goes_on(run):
    out, code, watcher = watching()
    wait_for(lambda: "10/40 tasks" in out.getvalue(), 30, "the first line")
    run.kube.unavailable = True
    wait_for(lambda: "(cannot read the run: " in out.getvalue(), 30, "the watch to say it cannot read the run")
    run.kube.unavailable = False
    run.end(0)
    watcher.join(30)
    assert code == [0] and "bench revision 3 succeeded (exit 0" in out.getvalue()
