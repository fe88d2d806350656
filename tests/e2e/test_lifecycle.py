"""Reruns with `helm upgrade`, `helm uninstall`, and a Job whose last launcher was killed hard."""

import time

from cluster_tools import SMALL_RUN, dask_clusters, dask_pods, kjson, kubectl, wait_until

LONG_RUN = {
    "run": {"function": "daskrun.examples.benchmark.run_benchmark",
            "args": {"iterations": 100000, "challenges": ["branin", "ackley"], "tuners": ["random"]}},
    "dask_cluster": {"workers": 2, "worker_config": {"resources": {"memory": "600M", "cpu": "200m"}}},
}


def running_cluster(namespace) -> str:
    """Name of the one DaskCluster once its workers run."""
    def ready():
        clusters = dask_clusters(namespace)
        workers = [p for p in dask_pods(namespace, "app.kubernetes.io/component=dask-worker")
                   if p["status"].get("phase") == "Running"]
        return clusters[0]["metadata"]["name"] if len(clusters) == 1 and workers else None

    return wait_until(ready, 300, what="a DaskCluster with running workers")


def pods_of_run(namespace, cluster_name):
    return dask_pods(namespace, f"daskrun.io/run={cluster_name}")


def test_upgrade_reruns_and_stops_the_running_run(namespace, release):
    rel = release()
    rel.install(LONG_RUN)
    first_job = rel.job_name()
    first_cluster = running_cluster(namespace)

    new_args = {**SMALL_RUN["run"]["args"], "tuners": ["grid"]}
    rel.install({**SMALL_RUN, "run": {**SMALL_RUN["run"], "args": new_args}})
    assert rel.revision == 2
    # The earlier run is stopped: its Job, its Dask cluster and their pods are gone.
    wait_until(lambda: kubectl("-n", namespace, "get", "job", first_job, check=False).returncode != 0, 60,
               what="the first Job to be deleted")
    wait_until(lambda: not pods_of_run(namespace, first_cluster), 90, what="the first run's Dask pods to go")
    assert rel.wait() == "Complete", rel.launcher_log()
    assert "tuners=['grid']" in rel.launcher_log()

    # Same values again: still a new run.
    rel.install({**SMALL_RUN, "run": {**SMALL_RUN["run"], "args": new_args}})
    assert rel.revision == 3
    assert rel.wait() == "Complete", rel.launcher_log()
    jobs = kjson("-n", namespace, "get", "jobs")["items"]
    assert [j["metadata"]["labels"]["daskrun.io/revision"] for j in jobs] == ["3"]


def test_uninstall_leaves_nothing(namespace, release):
    rel = release()
    rel.install(LONG_RUN)
    running_cluster(namespace)
    rel.uninstall()

    def leftovers():
        found = {}
        for kind in ("jobs", "pods", "daskclusters.kubernetes.dask.org", "daskworkergroups.kubernetes.dask.org",
                     "daskautoscalers.kubernetes.dask.org", "deployments", "services", "configmaps", "secrets",
                     "roles", "rolebindings", "serviceaccounts"):
            names = [i["metadata"]["name"] for i in kjson("-n", namespace, "get", kind)["items"]]
            names = [n for n in names if n not in ("kube-root-ca.crt", "default")]
            if names:
                found[kind] = names
        return found

    wait_until(lambda: not leftovers(), 120, what="everything to be removed")
    assert leftovers() == {}


def test_a_job_failed_for_good_leaves_no_dask_pod_within_120s(namespace, release):
    """The DaskCluster is the Job's (it outlives a launcher pod), so when the last launcher is
    killed hard and the Job fails for good, the driver's watchdog deletes it."""
    rel = release()
    rel.install(LONG_RUN, job={"backoffLimit": 0})
    cluster = running_cluster(namespace)
    wait_until(lambda: "in the driver beside the scheduler" in rel.launcher_log(), 120, what="the function to start")
    launcher = rel.pods()[0]["metadata"]["name"]
    # No grace period: the launcher gets SIGKILL and cannot delete its cluster itself.
    kubectl("-n", namespace, "delete", "pod", launcher, "--grace-period=0", "--force", "--wait=false")
    assert rel.wait() == "Failed"
    failed = time.monotonic()
    wait_until(lambda: not pods_of_run(namespace, cluster) and not [
        c for c in dask_clusters(namespace) if c["metadata"]["name"] == cluster], 120,
        what="the run's Dask pods to go after its Job failed")
    print(f"Dask pods gone {time.monotonic() - failed:.1f}s after the Job failed")
