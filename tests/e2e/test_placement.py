"""The Dask pods get the run's placement, identity and accelerators, and never wait in silence.

The single node plays a tainted, labelled GPU pool: a NoSchedule taint, a label and a fake
extended resource (`example.com/gpu: 1`) patched into its status. Other engineers' runs share
this node, so all three are removed in a `finally`, and the whole test runs under the e2e
lock (`make e2e` is only ever run under it). Three releases share the namespace and run side
by side to keep the suite short:

- `placed` tolerates the taint and selects the label everywhere, asks each of 2 workers for an
  `example.com/gpu`, starts suspended, with a NetworkPolicy. It must create no pod until
  resumed; then one worker runs (the node has one GPU), the other is Pending with the
  scheduler's reason in the log, and the run starts with `wait_for_workers.minimum: 1`.
- `untolerated` gives its workers no toleration, `greedy` gives them more CPU than the node
  has: each reason is in the log within 30 s, and each run fails (exit 4) naming it after
  `wait_for_workers.timeout`. (Kubernetes names only the first filter a node fails, so the
  two reasons need two runs.)
"""

import datetime
import json
import re
import time

import pytest

from cluster_tools import SMALL_RUN, dask_pods, kjson, kubectl, wait_until

TAINT_KEY = "daskrun-e2e/pool"
POOL = "dask"
GPU = "example.com/gpu"
GPU_PATH = "/status/capacity/example.com~1gpu"
PLACEMENT = {"tolerations": [{"key": TAINT_KEY, "operator": "Equal", "value": POOL, "effect": "NoSchedule"}],
             "nodeSelector": {TAINT_KEY: POOL}}


@pytest.fixture
def gpu_pool(cluster):
    """The node tainted, labelled and advertising one fake GPU; all undone afterwards."""
    node = cluster[0]["metadata"]["name"]
    try:
        kubectl("label", "node", node, f"{TAINT_KEY}={POOL}", "--overwrite")
        kubectl("taint", "node", node, f"{TAINT_KEY}={POOL}:NoSchedule", "--overwrite")
        kubectl("patch", "node", node, "--subresource=status", "--type=json",
                "-p", json.dumps([{"op": "add", "path": GPU_PATH, "value": "1"}]))
        wait_until(lambda: kjson("get", "node", node)["status"].get("allocatable", {}).get(GPU) == "1",
                   60, what=f"the node to advertise {GPU}")
        yield node
    finally:
        kubectl("taint", "node", node, f"{TAINT_KEY}:NoSchedule-", check=False)
        kubectl("label", "node", node, f"{TAINT_KEY}-", check=False)
        for field in ("capacity", "allocatable"):
            remove = [{"op": "remove", "path": f"/status/{field}/example.com~1gpu"}]
            kubectl("patch", "node", node, "--subresource=status", "--type=json", "-p", json.dumps(remove), check=False)


def _timestamps(log: str, pattern: str) -> list[datetime.datetime]:
    """When the launcher logged lines matching `pattern` (continuation lines have no time)."""
    return [datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            for line in log.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line) and re.search(pattern, line)]


def _worker_pods(namespace, release):
    return dask_pods(namespace, f"app.kubernetes.io/instance={release},app.kubernetes.io/component=dask-worker")


def _api_status_with_token(namespace, pod, token):
    """The HTTP status a worker gets from the API server with the given bearer token."""
    probe = (
        "import ssl, sys, urllib.request, urllib.error\n"
        "ctx = ssl.create_default_context(cafile=None); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
        f"req = urllib.request.Request('https://kubernetes.default.svc/api/v1/namespaces/{namespace}/pods',"
        " headers={'Authorization': 'Bearer ' + sys.stdin.read().strip()})\n"
        "try:\n    print(urllib.request.urlopen(req, context=ctx, timeout=10).status)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code)\n"
    )
    result = kubectl("-n", namespace, "exec", "-i", pod, "--", "python", "-c", probe, input=token)
    return int(result.stdout.strip().splitlines()[-1])


def _exec_status(namespace, pod, token):
    try:
        return _api_status_with_token(namespace, pod, token)
    except AssertionError as exc:  # kubectl failed; its message is in the next try's log
        print(f"exec into {pod} failed, retrying: {str(exc)[-300:]}")
        return None


def test_gpu_pool_identity_suspend_and_pending_reasons(namespace, release, gpu_pool):
    started = time.monotonic()
    placed, stuck = release("placed"), {}
    gpu_run = {
        "run": {**SMALL_RUN["run"], "args": {**SMALL_RUN["run"]["args"], "iterations": 6}},
        "dask_cluster": {"workers": 2, "wait_for_workers": {"minimum": 1, "timeout": 300},
                         "worker_config": {"resources": {"memory": "1G", "cpu": "250m", GPU: 1}}},
    }
    placed.install(gpu_run, **PLACEMENT, podLabels={"e2e": "placed"}, job={"suspend": True, "backoffLimit": 0},
                   networkPolicy={"enabled": True})
    for name, resources, roles in (("untolerated", {"cpu": "250m"}, {"workers": {"tolerations": []}}),
                                   ("greedy", {"cpu": "64"}, {})):
        stuck[name] = release(name)
        stuck[name].install({"run": SMALL_RUN["run"], "dask_cluster": {
            "workers": 1, "wait_for_workers": {"timeout": 45},
            "worker_config": {"resources": {"memory": "700M", **resources}}}},
            **PLACEMENT, daskPods=roles, job={"backoffLimit": 0})

    # Suspended: no launcher, so no Dask cluster, until resumed. The Job controller's Suspended
    # condition says it has seen the Job and made its decision: no pod.
    wait_until(lambda: any(c["type"] == "Suspended" and c["status"] == "True"
                           for c in placed.job().get("status", {}).get("conditions", [])),
               120, interval=0.5, what="the Job controller to mark the placed Job suspended")
    assert placed.pods() == [], "a suspended Job must create no pod"
    assert _worker_pods(namespace, "placed") == []
    # The NetworkPolicy is there before any pod (test_locked_cluster shows it enforced).
    policy = kjson("-n", namespace, "get", "networkpolicy", "placed-daskrun-dask")
    assert policy["spec"]["ingress"][0] == {"from": [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/instance": "placed"}}}]}
    kubectl("-n", namespace, "patch", "job", placed.job_name(), "--type=merge", "-p", '{"spec":{"suspend":false}}')

    def running_worker():
        return next((p for p in _worker_pods(namespace, "placed") if p["status"].get("phase") == "Running"), None)

    worker = wait_until(running_worker, 240, what="a worker of the placed run to run")
    account = "placed-daskrun-dask"
    spec = worker["spec"]
    assert spec["serviceAccountName"] == account
    assert spec["automountServiceAccountToken"] is False
    assert PLACEMENT["tolerations"][0] in spec["tolerations"]
    assert spec["nodeSelector"] == PLACEMENT["nodeSelector"]
    assert worker["metadata"]["labels"]["e2e"] == "placed"
    container = spec["containers"][0]
    assert container["resources"]["limits"][GPU] == "1"
    assert "--resources" in container["args"] and f"{GPU}=1" in container["args"]
    # No token is mounted; with one made for its ServiceAccount the API refuses the worker.
    assert not any(m["mountPath"].startswith("/var/run/secrets/kubernetes.io") for m in container.get("volumeMounts", []))
    token = kubectl("-n", namespace, "create", "token", account, "--duration=10m").stdout.strip()
    # `kubectl exec` can fail while the kubelet sets up the exec (runc's "broken pipe");
    # the API's answer is what is tested, so ask until the exec itself goes through.
    status = wait_until(lambda: _exec_status(namespace, worker["metadata"]["name"], token), 60,
                        what="an exec into the worker to go through")
    assert status == 403

    assert placed.wait() == "Complete", placed.launcher_log()
    log = placed.launcher_log()
    assert f"Dask resources per worker: {GPU}=1" in log, log
    assert re.search(rf"1 worker pod Pending.*Insufficient {re.escape(GPU)}", log), log
    print(f"\nplaced run done after {time.monotonic() - started:.0f}s")

    for name, reason in (("untolerated", "untolerated taint"), ("greedy", "Insufficient cpu")):
        assert stuck[name].wait(timeout=240) == "Failed", stuck[name].launcher_log()
        log = stuck[name].launcher_log()
        created = _timestamps(log, r"creating DaskCluster")[0]
        first_reason = _timestamps(log, rf"1 worker pod Pending.*{reason}")[0]
        assert (first_reason - created).total_seconds() < 30, log
        assert re.search(rf"only 0 of 1 workers joined within 45s\n\s+1 worker pod Pending: .*{reason}", log), log
        print(f"{name}: '{reason}' logged {(first_reason - created).total_seconds():.1f}s after the cluster "
              f"was created; test took {time.monotonic() - started:.0f}s")
