"""GitOps without Helm releases: `helm template | kubectl apply` (what Argo CD does, README's
GitOps section). Changed values render a new Job, a new run; pruning the old Job stops the
earlier run with its Dask cluster; re-applying unchanged values starts nothing."""

from __future__ import annotations

import yaml

from cluster_tools import CHART, HELM, IMAGE_REPOSITORY, IMAGE_TAG, SMALL_RUN, dask_clusters, kjson, kubectl, sh, wait_until

RELEASE = "gitops"
LONG_ARGS = {"iterations": 100000, "challenges": ["branin"], "tuners": ["random"]}


def apply(namespace: str, tmp_path, config: dict) -> str:
    """Render like Argo CD (no release, revision 1, no test hook) and apply, pruning this
    release's Jobs that are no longer rendered. Returns the rendered Job's name."""
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"image": {"repository": IMAGE_REPOSITORY, "tag": IMAGE_TAG}, **config}))
    rendered = sh(HELM, "template", RELEASE, str(CHART), "-n", namespace, "-f", str(values), "--skip-tests").stdout
    kubectl("apply", "-n", namespace, "-f", "-", "--prune", "-l", f"app.kubernetes.io/instance={RELEASE}",
            "--prune-allowlist=batch/v1/Job", input=rendered)
    [job] = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Job"]
    return job["metadata"]["name"]


def jobs(namespace: str) -> list[str]:
    return [j["metadata"]["name"] for j in kjson("-n", namespace, "get", "jobs")["items"]
            if not j["metadata"].get("deletionTimestamp")]


def test_template_and_apply_twice_runs_twice_and_stops_the_first(namespace, tmp_path):
    first = apply(namespace, tmp_path, {**SMALL_RUN, "run": {**SMALL_RUN["run"], "args": LONG_ARGS}})
    first_cluster = wait_until(lambda: [c["metadata"]["name"] for c in dask_clusters(namespace)], 180,
                               what="the first run's DaskCluster")[0]

    second = apply(namespace, tmp_path, SMALL_RUN)
    assert second != first and second.split("-r1-")[0] == first.split("-r1-")[0]
    # The first run is stopped: its Job pruned, its launcher pod and Dask cluster collected.
    wait_until(lambda: first not in jobs(namespace), 60, what="the first Job to be pruned")
    wait_until(lambda: not kjson("-n", namespace, "get", "pods", "-l", f"job-name={first}")["items"], 90,
               what="the first run's launcher pod to go")
    wait_until(lambda: first_cluster not in [c["metadata"]["name"] for c in dask_clusters(namespace)], 90,
               what="the first run's DaskCluster to go")

    def finished():
        status = kjson("-n", namespace, "get", "job", second).get("status", {})
        return next((c["type"] for c in status.get("conditions") or []
                     if c["type"] in ("Complete", "Failed") and c["status"] == "True"), None)

    assert wait_until(finished, 600, what=f"job {second} to finish") == "Complete", \
        kubectl("-n", namespace, "logs", f"job/{second}", check=False).stdout
    uid = kjson("-n", namespace, "get", "job", second)["metadata"]["uid"]

    # A resync of the same values: the same Job, untouched (no new run).
    assert apply(namespace, tmp_path, SMALL_RUN) == second
    assert jobs(namespace) == [second]
    assert kjson("-n", namespace, "get", "job", second)["metadata"]["uid"] == uid
