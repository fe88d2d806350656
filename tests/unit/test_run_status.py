"""`daskrun status`'s words for a run (daskrun.run_status), from Jobs, pods and launcher logs
shaped as the API returns them. Listing real Jobs is in tests/e2e (test_resume)."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from daskrun import run_status, timeline
from daskrun.errors import OUTCOMES, ExitCode
from daskrun.job_logs import RUN_CONTAINER
from daskrun.run_labels import INSTANCE_LABEL, KEPT_ANNOTATION, REVISION_LABEL

NOW = datetime.datetime(2026, 12, 3, 12, 0, 0, tzinfo=datetime.timezone.utc)


def job(conditions=(), suspend=False, start="2026-12-03T11:00:00Z", completion=None):
    status = {"startTime": start, "conditions": [dict(c) for c in conditions]}
    if completion:
        status["completionTime"] = completion
    return {"metadata": {"name": "bench-daskrun-r3", "namespace": "runs",
                         "labels": {INSTANCE_LABEL: "bench", REVISION_LABEL: "3"}},
            "spec": {"suspend": suspend}, "status": status}


def pod(name="bench-daskrun-r3-a", phase="Running", created="2026-12-03T11:00:01Z", exit_code=None, **status):
    containers = [{"name": RUN_CONTAINER, "state": {"running": {}}}]
    if exit_code is not None:
        containers = [{"name": RUN_CONTAINER, "state": {"terminated": {"exitCode": exit_code}}}]
    return {"metadata": {"name": name, "creationTimestamp": created},
            "status": {"phase": phase, "containerStatuses": containers, **status}}


def line(logger, message, at="2026-12-03 11:00:05,123"):
    return f"{at} INFO    {logger}: {message}\n"


def phases(*names):
    return "".join(line("daskrun.timeline", f"phase: {n} at +1.0s") for n in names)


RUNNING_LOG = (phases(timeline.CONFIG_LOADED, timeline.SETUP_DONE, timeline.CLUSTER_CREATED, timeline.ALL_WORKERS,
                      timeline.FUNCTION_STARTED)
               + line("daskrun.cluster", "workers joined: 2/4 (2 x 1 CPU)")
               + line("daskrun.progress", "progress: 12/40 tasks done, 2 running, 26 waiting, 0 erred; 3 workers"))


def test_a_running_run_says_workers_tasks_and_elapsed():
    s = run_status.status_of(job(), [pod()], RUNNING_LOG, NOW)
    assert (s.release, s.revision, s.phase, s.attempt) == ("bench", "3", "running", 1)
    assert (s.workers, s.workers_wanted, s.tasks_done, s.tasks_total) == (3, 4, 12, 40)
    assert s.elapsed_seconds == 3600 and s.result == "not yet" and s.exit_code is None
    row = run_status.table([s]).splitlines()[1]
    assert row.split()[:7] == ["bench", "3", "running", "3/4", "12/40", "1h00m", "not"]


def test_each_phase_of_the_launcher_has_its_word():
    words = []
    for done in range(1, len(timeline.PHASES) + 1):
        words.append(run_status.running_phase(phases(*timeline.PHASES[:done])))
    assert words[0] == "setting up" and words[-1] == "cleaning up"
    assert "waiting for workers" in words and "running" in words and "storing" in words
    # Never back: a later phase line never gives an earlier word.
    order = [w for _, w in run_status._PHASE_WORDS]
    assert [order.index(w) for w in words] == sorted(order.index(w) for w in words)


def test_a_pending_launcher_says_why():
    unschedulable = pod(phase="Pending", conditions=[{"type": "PodScheduled", "status": "False",
                                                      "message": "0/1 nodes are available: 1 Insufficient cpu."}])
    s = run_status.status_of(job(), [unschedulable], "", NOW)
    assert s.phase == "pending" and s.reason == "not scheduled: 0/1 nodes are available: 1 Insufficient cpu."
    pulling = pod(phase="Pending")
    pulling["status"]["containerStatuses"] = [{"name": RUN_CONTAINER, "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]
    assert run_status.status_of(job(), [pulling], "", NOW).reason == "ImagePullBackOff: Back-off pulling image"
    assert run_status.status_of(job(), [], "", NOW).reason == "no launcher pod yet"


def test_a_failed_run_names_its_exit_code_and_meaning_and_where_the_result_is():
    failed = job(conditions=[{"type": "Failed", "status": "True", "reason": "PodFailurePolicy",
                              "lastTransitionTime": "2026-12-03T11:30:00Z"}])
    s = run_status.status_of(failed, [pod(exit_code=3, phase="Failed")],
                             line("daskrun.runner", "could not store the result at s3://b/k.csv: denied"), NOW)
    assert (s.phase, s.exit_code, s.reason) == ("failed", 3, OUTCOMES[ExitCode.NOT_STORED].short)
    assert s.result == "in the log: daskrun recover --job bench-daskrun-r3 -o FILE"
    assert s.elapsed_seconds == 1800
    assert "failed (exit 3: result not stored, it is in the log)" in run_status.table([s])


def test_a_retried_run_counts_its_attempts_and_reads_the_newest():
    old = pod(name="bench-daskrun-r3-a", created="2026-12-03T11:00:01Z", exit_code=4, phase="Failed")
    new = pod(name="bench-daskrun-r3-b", created="2026-12-03T11:05:00Z")
    assert run_status.newest([new, old]) is new
    s = run_status.status_of(job(), [old, new], RUNNING_LOG, NOW)
    assert s.attempt == 2 and s.phase == "running"
    assert "running, attempt 2" in run_status.table([s])
    # A force-deleted pod is no longer listed, but the Job counted it.
    counted = job()
    counted["status"].update(failed=1, active=1)
    assert run_status.status_of(counted, [new], RUNNING_LOG, NOW).attempt == 2


def test_a_succeeded_run_says_where_its_result_was_stored():
    done = job(conditions=[{"type": "Complete", "status": "True"}], completion="2026-12-03T11:10:00Z")
    log = line("daskrun.runner", "result (40 rows x 3 columns) stored at s3://bucket/runs/bench.csv")
    s = run_status.status_of(done, [pod(exit_code=0, phase="Succeeded")], log, NOW)
    assert (s.phase, s.exit_code, s.result, s.elapsed_seconds) == ("succeeded", 0, "s3://bucket/runs/bench.csv", 600)
    kept = line("daskrun.runner", "pod bench-daskrun-r3-a of this Job kept the run's result at 2026-12-03T11:09:00Z")
    assert run_status.result_place(kept, "succeeded", 0, done) == "kept by pod bench-daskrun-r3-a (its log says where)"


def with_launcher(job_, mounts, volumes):
    job_["spec"]["template"] = {"spec": {"containers": [{"name": RUN_CONTAINER, "volumeMounts": mounts}],
                                         "volumes": volumes}}
    return job_


def test_a_local_path_on_a_claim_is_kept_and_one_in_the_pod_is_gone_with_it():
    log = line("daskrun.runner", "result (4 rows x 3 columns) stored at /results/bench.csv")
    claim = with_launcher(job(), [{"name": "out", "mountPath": "/results"}],
                          [{"name": "out", "persistentVolumeClaim": {"claimName": "results"}}])
    assert run_status.result_place(log, "succeeded", 0, claim) == "/results/bench.csv"
    scratch = with_launcher(job(), [{"name": "out", "mountPath": "/results"}], [{"name": "out", "emptyDir": {}}])
    for gone in (scratch, with_launcher(job(), [], [])):
        assert run_status.result_place(log, "succeeded", 0, gone).startswith(
            "/results/bench.csv in the launcher pod, gone with it")
    printed_too = log + line("daskrun.runner", "the result is stored at /results/bench.csv in the launcher pod's "
                                               "own filesystem, which goes with the pod: it is printed below too")
    assert run_status.result_place(printed_too, "succeeded", 0, scratch) == (
        "in the log (the file went with the pod): daskrun result bench -o FILE")


def test_a_finished_run_whose_pods_are_gone_points_to_daskrun_result():
    """No pod, so no log to say where: the Job's kept mark still says a result was kept."""
    done = job(conditions=[{"type": "Complete", "status": "True"}], completion="2026-12-03T11:10:00Z")
    unmarked = run_status.status_of(done, [], "", NOW)
    assert (unmarked.phase, unmarked.result) == (
        "succeeded", "unknown (its log went with the pod): daskrun result bench -o FILE looks where the config says")
    done["metadata"]["annotations"] = {KEPT_ANNOTATION: '{"at": "2026-12-03T11:09:00Z", "pod": "bench-daskrun-r3-a"}'}
    assert run_status.status_of(done, [], "", NOW).result == (
        "kept (its log went with the pod): daskrun result bench -o FILE fetches it")
    running = job()
    assert run_status.result_place("", "running", None, running) == "not yet"


def test_a_suspended_job_is_suspended_not_pending():
    assert run_status.status_of(job(suspend=True, start=None), [], "", NOW).phase == "suspended"


def test_an_unknown_exit_code_or_a_signal_is_named_as_such():
    failed = job(conditions=[{"type": "Failed", "status": "True"}])
    assert run_status.status_of(failed, [pod(exit_code=137)], "", NOW).reason == "killed by signal 9"
    assert run_status.status_of(failed, [pod(exit_code=42)], "", NOW).reason == "not a daskrun exit code"


def test_the_table_has_a_namespace_column_for_all_namespaces():
    s = run_status.status_of(job(), [pod()], RUNNING_LOG, NOW)
    head = run_status.table([s], with_namespace=True).splitlines()[0].split()
    assert head[:2] == ["NAMESPACE", "RELEASE"]


@given(st.text())
def test_any_log_text_gives_a_status_and_never_raises(log):
    s = run_status.status_of(job(), [pod()], log, NOW)
    assert s.phase in {w for _, w in run_status._PHASE_WORDS}
    assert run_status.table([s])


@given(st.lists(st.sampled_from(timeline.PHASES), max_size=12), st.text(alphabet="abc \n:/+0123456789", max_size=200))
def test_phase_lines_among_noise_give_the_word_of_the_latest_phase(seen, noise):
    log = noise + "\n" + phases(*seen) + noise
    word = run_status.running_phase(log)
    expected = "setting up"
    for group, words in run_status._PHASE_WORDS:
        if set(seen) & group:
            expected = words
    assert word == expected


def test_the_command_without_a_cluster_says_so_and_fails(tmp_path):
    from cli_runner import run_cli

    result = run_cli("status", env={"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("daskrun status: cannot reach the cluster"), result.stderr


def test_workers_that_cannot_be_placed_say_why_until_they_join():
    waiting = (phases(timeline.CONFIG_LOADED, timeline.CLUSTER_CREATED)
               + line("daskrun.cluster", "workers joined: 0/2")
               + line("daskrun.scheduling", "2 worker pods Pending for 30s: 0/1 nodes are available: 1 Insufficient cpu."))
    s = run_status.status_of(job(), [pod()], waiting, NOW)
    assert s.phase == "waiting for workers"
    assert s.reason == "2 worker pods Pending for 30s: 0/1 nodes are available: 1 Insufficient cpu."
    assert "waiting for workers (2 worker pods Pending" in run_status.table([s])
    # Once workers joined after it, the old warning is no reason any more.
    joined = waiting + line("daskrun.cluster", "workers joined: 1/2")
    assert run_status.status_of(job(), [pod()], joined, NOW).reason == ""


def test_the_time_of_the_task_count_is_the_log_lines():
    s = run_status.status_of(job(), [pod()], RUNNING_LOG, NOW)
    assert s.progress_at == "2026-12-03 11:00:05,123"
    assert run_status.status_of(job(), [pod()], phases(timeline.CONFIG_LOADED), NOW).progress_at is None
