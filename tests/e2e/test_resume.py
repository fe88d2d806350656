"""A run outlives its launcher pod: evicted, force-deleted, or lost once the function has
returned, the Job's next pod re-attaches and stores the same result, and no task runs twice.

Every task execution is counted outside the cluster (daskrun.examples.counted reports to a
server on this host), so "nothing recomputed" is measured, not inferred from the log.
"""

from __future__ import annotations

import io
import json
import time

import pandas as pd
import pytest

from cluster_tools import dask_clusters, dask_pods, evict, force_delete, kubectl, wait_pod_done, wait_until
from counter_server import Counter
from daskrun.run_labels import KEPT_ANNOTATION

TASKS = 30  # of 2 s on 2 workers: benchmarks/launcher_loss.py runs the 40 of 3 s
EXPECTED = pd.DataFrame({"task": range(TASKS), "square": [i * i for i in range(TASKS)]})


def counted_run(counter: Counter, hold: bool = False) -> dict:
    args = {"report_url": counter.url, "tasks": TASKS, "seconds": 2.0}
    if hold:
        args["hold_url"] = f"{counter.url}/release"
    return {
        "run": {"function": "daskrun.examples.counted.tasks", "args": args},
        "dask_cluster": {"workers": 2, "worker_config": {"nthreads": 1, "resources": {"memory": "400M", "cpu": "200m"}}},
    }


def launcher(rel) -> dict:
    running = [p for p in rel.pods() if p["status"].get("phase") in ("Pending", "Running")
               and not p["metadata"].get("deletionTimestamp")]
    return running[0] if len(running) == 1 else {}


def assert_resumed(rel, counter: Counter, namespace: str, started: float) -> None:
    assert rel.wait() == "Complete", rel.launcher_log()
    print(f"wall time from install to Complete: {time.monotonic() - started:.0f}s")
    log = rel.launcher_log()
    assert "re-attached to run" in log, log
    print("\n".join(line for line in log.splitlines() if "re-attach" in line or "leaving DaskCluster" in line))
    assert counter.snapshot().get("/function") == 1, counter.snapshot()
    assert counter.tasks_started() == TASKS
    assert counter.reruns() == {}, f"tasks ran twice: {counter.reruns()}"
    recovered = rel.recover()
    assert recovered.returncode == 0, recovered.stderr
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(recovered.stdout)), EXPECTED)
    # The finished run deleted its cluster; nothing of it is left.
    wait_until(lambda: not dask_clusters(namespace) and not dask_pods(namespace), 120, what="the Dask pods to go")


def attached_launcher(rel, lost: set[str]) -> str | None:
    """The launcher pod that replaced the `lost` ones, once it has re-attached."""
    name = launcher(rel).get("metadata", {}).get("name")
    if name in lost or name is None:
        return None
    log = kubectl("-n", rel.namespace, "logs", name, check=False).stdout
    return name if "re-attached to run" in log else None


def test_a_launcher_evicted_then_one_force_deleted_are_replaced_and_no_task_runs_twice(namespace, release, counter):
    rel = release()
    started = time.monotonic()
    # Held: the function must still be running when the second launcher is lost. Unheld, its
    # tasks could end while that launcher starts (a loaded node takes 30 s), and the launcher
    # then stores the result and deletes the cluster: the force-deletion would hit a finished
    # run, and the third launcher would start a new one.
    rel.install(counted_run(counter, hold=True))
    wait_until(lambda: counter.tasks_started() >= TASKS // 3, 400, interval=0.5, what="a third of the tasks to start")
    first = launcher(rel)["metadata"]["name"]
    evict(namespace, first)  # what a drain or a preemption does; not counted against backoffLimit
    second = wait_until(lambda: attached_launcher(rel, {first}), 120, interval=0.5,
                        what="the Job's next launcher to re-attach")
    force_delete(namespace, second)  # what a lost node looks like to the Job
    wait_until(lambda: attached_launcher(rel, {first, second}), 120, interval=0.5,
               what="a third launcher to re-attach")
    counter.released.set()
    assert_resumed(rel, counter, namespace, started)


def test_a_result_computed_while_no_launcher_is_attached_is_kept_and_stored(namespace, release, counter):
    rel = release()
    started = time.monotonic()
    rel.install(counted_run(counter, hold=True))
    wait_until(lambda: counter.snapshot().get("GET /release"), 400, interval=0.5,
               what="the function to finish its tasks and wait to be released")
    lost = launcher(rel)["metadata"]["name"]
    force_delete(namespace, lost)
    counter.released.set()  # the function returns now, with no launcher attached
    assert_resumed(rel, counter, namespace, started)
    assert "has ended (done), collecting the outcome" in rel.launcher_log()
    # The Job is marked before the cluster holding the result is deleted: a launcher killed in
    # the clean-up leaves a Job whose next pod must not run the function again.
    job = rel.job()
    mark = json.loads(job["metadata"]["annotations"][KEPT_ANNOTATION])
    assert mark["pod"] in {p["metadata"]["name"] for p in rel.pods()} - {lost}, mark
    replay = replayed_launcher(job)
    log = kubectl("-n", namespace, "logs", replay, check=False).stdout
    assert f"pod {mark['pod']} of this Job kept the run's result" in log, log
    assert "not running the function again" in log and "creating DaskCluster" not in log, log
    assert counter.snapshot().get("/function") == 1, counter.snapshot()
    assert not dask_clusters(namespace)
    status = rel.status()
    assert (status["phase"], status["exit_code"]) == ("succeeded", 0), status
    assert status["result"] == f"in the log: daskrun recover --job {job['metadata']['name']} -o FILE", status
    fetched = rel.daskrun("result", "-o", "-")
    assert fetched.returncode == 0, fetched.stderr
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(fetched.stdout)), EXPECTED)


def replayed_launcher(job: dict) -> str:
    """A pod of the Job's own template, owned by it, started after the Job finished: what the
    Job starts when its launcher is lost after keeping the result. Its name, once it succeeded."""
    pod = {"apiVersion": "v1", "kind": "Pod", "spec": job["spec"]["template"]["spec"],
           "metadata": {"name": f"{job['metadata']['name'][:50]}-replay", "namespace": job["metadata"]["namespace"],
                        # Not the Job controller's labels: a finished Job must not count this pod.
                        "labels": {k: v for k, v in job["spec"]["template"]["metadata"]["labels"].items()
                                   if "job-name" not in k and "controller-uid" not in k},
                        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
                                             "uid": job["metadata"]["uid"], "controller": False}]}}
    kubectl("apply", "-f", "-", input=json.dumps(pod))
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    assert wait_pod_done(namespace, name) == "Succeeded", kubectl("-n", namespace, "logs", name, check=False).stdout
    return name


def running_worker(namespace: str) -> dict:
    workers = [p for p in dask_pods(namespace, "app.kubernetes.io/component=dask-worker")
               if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    return workers[0] if workers else {}


def worker_name(pod: dict) -> str:
    """The Dask worker name the operator gives the pod (DASK_WORKER_NAME)."""
    [value] = [e["value"] for e in pod["spec"]["containers"][0]["env"] if e["name"] == "DASK_WORKER_NAME"]
    return value


@pytest.mark.parametrize("graceful", [True, False], ids=["evicted-with-grace", "force-deleted"])
def test_a_lost_worker_costs_at_most_its_own_tasks(namespace, release, counter, graceful):
    rel = release()
    rel.install(counted_run(counter))
    wait_until(lambda: counter.tasks_started() >= TASKS // 3, 400, interval=0.5, what="a third of the tasks to start")
    pod = running_worker(namespace)
    name = worker_name(pod)
    if graceful:
        evict(namespace, pod["metadata"]["name"])
    else:
        force_delete(namespace, pod["metadata"]["name"])
    assert rel.wait() == "Complete", rel.launcher_log()
    assert counter.snapshot().get("/function") == 1
    reruns = counter.reruns()
    print(f"worker {name} lost ({'evicted' if graceful else 'force-deleted'}): reruns {reruns}")
    if graceful:
        assert reruns == {}, f"a gracefully stopped worker's tasks ran again: {reruns}"
    else:
        assert set(reruns) <= counter.ran_on(name), "a task that never ran on the lost worker ran again"
    recovered = rel.recover()
    assert recovered.returncode == 0, recovered.stderr
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(recovered.stdout)), EXPECTED)


def test_workers_that_never_come_reuse_the_cluster_and_a_failed_job_leaves_no_dask_pod(namespace, release):
    rel = release()
    unschedulable = {"run": {"function": "daskrun.examples.echo.arguments"},
                     "dask_cluster": {"workers": 1, "wait_for_workers": {"timeout": 20},
                                      "worker_config": {"resources": {"memory": "900Gi"}}}}
    rel.install(unschedulable, job={"backoffLimit": 1})
    assert rel.wait() == "Failed"
    failed = time.monotonic()
    log = rel.launcher_log()
    assert log.count("only 0 of 1 workers joined within 20s") == 2, log
    assert log.count("creating DaskCluster") == 1 and "re-attaching to DaskCluster" in log, log
    wait_until(lambda: not dask_clusters(namespace) and not dask_pods(namespace), 120,
               what="every Dask pod to go after the Job failed")
    print(f"Dask pods gone {time.monotonic() - failed:.1f}s after the Job failed")


def test_uninstall_while_a_new_launcher_re_attaches_leaves_no_dask_pod(namespace, release, counter):
    rel = release()
    rel.install(counted_run(counter))
    wait_until(lambda: counter.tasks_started() >= 4, 400, interval=0.5, what="the tasks to start")
    lost = launcher(rel)["metadata"]["name"]
    force_delete(namespace, lost)
    wait_until(lambda: launcher(rel).get("metadata", {}).get("name") not in (None, lost), 120, interval=0.5,
               what="the Job's next launcher pod")
    rel.uninstall()
    gone = time.monotonic()
    wait_until(lambda: not dask_clusters(namespace) and not dask_pods(namespace), 120,
               what="every Dask pod to go after helm uninstall")
    print(f"Dask pods gone {time.monotonic() - gone:.1f}s after helm uninstall returned")
