"""A run's Dask cluster lets in its own pods only (issue 22), tried as an attacker would.

One release holds its run open (daskrun.examples.counted with a hold URL) while pods that are
not part of it -- one in another namespace, one in the run's own namespace -- try the run's
scheduler. With the chart's NetworkPolicy, enforced by the test cluster's policy engine, they
cannot even connect. With the policy deleted they connect, and the run's TLS refuses a Dask
client on plain TCP, one with a certificate of its own and one with none. The run's own
launcher stays connected throughout and stores the whole result; the run's certificates live
in a Secret owned by its DaskCluster, gone with it.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest

from cluster_tools import (
    IMAGE_REPOSITORY,
    IMAGE_TAG,
    KUBECTL,
    create_namespace,
    dask_clusters,
    delete_namespace,
    kjson,
    kubectl,
    wait_pod_done,
    wait_until,
)
from daskrun.manifest import SCHEDULER_DASHBOARD_PORT
from servers import free_port

TASKS = 4
EXPECTED = pd.DataFrame({"task": range(TASKS), "square": [i * i for i in range(TASKS)]})

# What an attacker's pod does: a TCP connection to the scheduler's comm and dashboard ports,
# and a Dask client joining by plain TCP, by TLS with a CA and certificate of its own (made
# with our own module: any self-made certificate), and by TLS that shows no certificate. One
# JSON line of outcomes; nothing here may hang (every step has a timeout).
ATTACK = r"""
import asyncio, json, socket, ssl, sys
from distributed import Client
from distributed.comm import connect
from daskrun import run_tls

host, comm_port, http_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def tcp(port):
    try:
        socket.create_connection((host, port), timeout=5).close()
        return "connected"
    except OSError as exc:
        return f"blocked: {type(exc).__name__}"

async def client(address, security):
    c = Client(address, security=security, asynchronous=True, timeout=10)
    try:
        await c
        await c.run(lambda: "ran on a worker")
        return "joined"
    except Exception as exc:
        return f"refused: {type(exc).__name__}"
    finally:
        await c.close()

async def no_certificate():
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        comm = await asyncio.wait_for(connect(f"tls://{host}:{comm_port}", timeout=10, ssl_context=context), 15)
        await comm.write({"op": "identity"})
        await asyncio.wait_for(comm.read(), 10)
        return "joined"
    except Exception as exc:
        return f"refused: {type(exc).__name__}"

async def main():
    own = run_tls.issue("attacker").security()
    return {"tcp comm": tcp(comm_port), "tcp dashboard": tcp(http_port),
            "dask tcp": await client(f"tcp://{host}:{comm_port}", None),
            "dask tls own certificate": await client(f"tls://{host}:{comm_port}", own),
            "dask tls no certificate": await no_certificate()}

print("ATTACK " + json.dumps(asyncio.run(main())), flush=True)
"""


# What Prometheus does: GET /metrics of the scheduler (Dask's own) and of the launcher (ours),
# again at the next interval when refused: the policy engine lets a new pod's address in only
# once it has seen the pod.
SCRAPE = r"""
import json, sys, time, urllib.request
found = {}
for url in sys.argv[1:]:
    deadline = time.monotonic() + 60
    while True:
        try:
            found[url] = urllib.request.urlopen(url, timeout=10).read().decode()
            break
        except Exception as exc:
            found[url] = f"failed: {type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                break
            time.sleep(1)
print("ATTACK " + json.dumps(found), flush=True)
"""
SCRAPER = {"app": "scraper"}


def attacker_pod(name: str, command: list[str], labels: dict[str, str]) -> dict:
    restricted = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                  "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                     "containers": [{"name": "attack", "image": f"{IMAGE_REPOSITORY}:{IMAGE_TAG}",
                                     "imagePullPolicy": "IfNotPresent", "securityContext": restricted,
                                     "command": command}]}}


def attack(namespace: str, name: str, host: str, command: list[str] | None = None,
           labels: dict[str, str] | None = None) -> dict:
    command = command or ["python", "-c", ATTACK, host, "8786", "8787"]
    kubectl("-n", namespace, "delete", "pod", name, "--ignore-not-found", "--wait=true")
    kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(attacker_pod(name, command, labels or {"app": "attacker"})))
    wait_pod_done(namespace, name)
    log = kubectl("-n", namespace, "logs", name).stdout
    lines = [line for line in log.splitlines() if line.startswith("ATTACK ")]
    assert lines, log
    return json.loads(lines[-1][len("ATTACK "):])


def assert_scraped(namespace: str, scheduler: str, launcher_ip: str) -> None:
    """The scrapers the values name read Dask's task counters and the launcher's phases, tasks and
    workers while the run is held; the attacker pods above, not named, could not even connect."""
    dask_url, ours_url = f"http://{scheduler}:8787/metrics", f"http://{launcher_ip}:9464/metrics"
    scraped = attack(namespace, "scraper", scheduler, ["python", "-c", SCRAPE, dask_url, ours_url], SCRAPER)
    assert 'dask_scheduler_tasks{state="processing"}' in scraped[dask_url], scraped[dask_url][:2000]
    ours = scraped[ours_url]
    assert 'daskrun_phase_seconds{phase="function started"}' in ours, ours[:2000]
    assert f"daskrun_tasks_total {float(TASKS)}" in ours and "daskrun_workers 1.0" in ours, ours


@pytest.fixture
def other_namespace(namespace):
    name = create_namespace(f"{namespace[:50]}-x")
    yield name
    delete_namespace(name)


def assert_dashboard_through_port_forward(namespace: str, cluster: str) -> None:
    """NOTES.txt's way to the dashboard of a locked run: `kubectl port-forward` to the scheduler's
    Service enters the scheduler pod itself, which the policy does not stand between."""
    port = free_port()
    forward = subprocess.Popen(
        [KUBECTL, "-n", namespace, "port-forward", f"svc/{cluster}-scheduler", f"{port}:{SCHEDULER_DASHBOARD_PORT}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        def page():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as response:
                    return response.status == 200 and response.read().decode(errors="replace")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert forward.poll() is None, f"kubectl port-forward ended: {forward.stdout.read()}"
                return None

        status = wait_until(page, 60, interval=1, what="the dashboard's /status through kubectl port-forward")
        assert "Bokeh" in status or "bokeh" in status, status[:500]  # the dashboard itself, drawn by Bokeh
    finally:
        forward.terminate()
        forward.wait(10)


def test_only_the_runs_own_pods_reach_its_scheduler(namespace, other_namespace, release, counter):
    rel = release()
    rel.install({
        "run": {"function": "daskrun.examples.counted.tasks",
                "args": {"report_url": counter.url, "tasks": TASKS, "seconds": 0.5, "hold_url": f"{counter.url}/go"}},
        "dask_cluster": {"workers": 1, "worker_config": {"nthreads": 1, "resources": {"memory": "400M", "cpu": "200m"}}},
        "metrics": {"enabled": True, "scrapers": [{"podSelector": {"matchLabels": SCRAPER}}]},
    })
    wait_until(lambda: counter.tasks_started() == TASKS, 400, interval=0.5, what="every task to run")
    [cluster] = dask_clusters(namespace)
    name = cluster["metadata"]["name"]
    host = f"{name}-scheduler.{namespace}.svc.cluster.local"

    # The run's certificates: a Secret of the run, owned by its DaskCluster.
    secret = kjson("-n", namespace, "get", "secret", f"{name}-tls")
    [owner] = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("DaskCluster", name, cluster["metadata"]["uid"])

    blocked = {"other namespace": attack(other_namespace, "attacker", host),
               "same namespace": attack(namespace, "attacker", host)}
    print(f"\nwith the NetworkPolicy: {json.dumps(blocked, indent=1)}")
    for where, outcome in blocked.items():
        assert all(result.startswith(("blocked", "refused")) for result in outcome.values()), (where, outcome)
        assert outcome["tcp comm"].startswith("blocked"), (where, outcome)
        assert outcome["tcp dashboard"].startswith("blocked"), (where, outcome)
    [launcher] = rel.pods()
    assert_scraped(namespace, host, launcher["status"]["podIP"])
    assert_dashboard_through_port_forward(namespace, name)

    # Without the policy (a cluster whose network plugin enforces none): TLS alone refuses.
    kubectl("-n", namespace, "delete", "networkpolicy", "-l", f"app.kubernetes.io/instance={rel.name}")
    deadline = time.monotonic() + 60
    while (open_door := attack(namespace, "attacker", host))["tcp comm"] != "connected":
        assert time.monotonic() < deadline, f"the scheduler stayed unreachable without the policy: {open_door}"
    print(f"without it, from the same namespace: {json.dumps(open_door, indent=1)}")
    for how in ("dask tcp", "dask tls own certificate", "dask tls no certificate"):
        assert open_door[how].startswith("refused"), open_door

    counter.released.set()
    assert rel.wait() == "Complete", rel.launcher_log()[-3000:]
    recovered = rel.recover()
    assert recovered.returncode == 0, recovered.stderr
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(recovered.stdout)), EXPECTED)
    assert counter.reruns() == {}
    log = rel.launcher_log()
    assert "TLS: certificates of this run only" in log, log
    wait_until(lambda: kubectl("-n", namespace, "get", "secret", f"{name}-tls", check=False).returncode != 0,
               120, what="the run's TLS Secret to go with its DaskCluster")
