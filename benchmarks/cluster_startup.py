"""Start-up figures in a real cluster (printed, not asserted).

Side by side in one run, for N = 2 and 8 workers of the same image:
  - a bare pod: creation to its container running (the floor for everything else);
  - daskrun: the Job's pod start to "workers joined: N/N" in its log;
  - a dask-kubernetes DaskJob: the runner pod's start to N workers connected (needs the
    dask operator installed: `make e2e` installs it for the external-mode tests);
and the worker setup time of the same pip_packages with uv against plain pip.

Run with KUBECONFIG set, from the repository root: `python benchmarks/cluster_startup.py`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
HELM = os.environ.get("HELM") or str(REPO / ".tools" / "bin" / "helm4")
IMAGE = os.environ.get("DASKRUN_IMAGE", "daskrun:0.1.0")
WORKER = {"memory": "300M", "cpu": "100m"}


def kubectl(*args, input=None, check=True):
    return subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, check=check)


def kjson(*args):
    return json.loads(kubectl(*args, "-o", "json").stdout)


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def wait(predicate, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise TimeoutError


def bare_pod(ns: str) -> float:
    name = f"bare-{uuid.uuid4().hex[:6]}"
    kubectl("-n", ns, "run", name, f"--image={IMAGE}", "--image-pull-policy=IfNotPresent", "--restart=Never",
            "--command", "--", "sleep", "30")
    pod = wait(lambda: (lambda p: p if any(s.get("state", {}).get("running") for s in
                                           p["status"].get("containerStatuses", []) or []) else None)(
        kjson("-n", ns, "get", "pod", name)))
    created = when(pod["metadata"]["creationTimestamp"])
    running = when(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"])
    kubectl("-n", ns, "delete", "pod", name, "--wait=false")
    return (running - created).total_seconds()


def daskrun_run(ns: str, n: int, pip: list[str] | None = None, installer: str | None = None) -> dict:
    release = f"b{n}-{uuid.uuid4().hex[:4]}"
    worker = {"resources": WORKER}
    if pip:
        worker["setup"] = {"pip_packages": pip}
    if installer:
        worker["env"] = {"DASKRUN_PIP_INSTALLER": installer}
    values = {"image": {"repository": IMAGE.split(":")[0], "tag": IMAGE.split(":")[1]},
              # Like the DaskJob, driven by the installed operator (two controllers would fight).
              "controller": {"mode": "external" if operator_installed() else "embedded"},
              "run": {"function": "daskrun.examples.benchmark.run_benchmark",
                      "args": {"iterations": 1, "challenges": ["branin"], "tuners": ["random"]}},
              "dask_cluster": {"workers": n, "worker_config": worker}}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(values, handle)
    subprocess.run([HELM, "install", release, str(REPO / "chart"), "-n", ns, "-f", handle.name],
                   check=True, capture_output=True)
    # The chart names the Job <release>-daskrun-r<revision>-<hash of the values>.
    [job] = [j["metadata"]["name"] for j in kjson("-n", ns, "get", "jobs", "-l",
                                                  f"app.kubernetes.io/instance={release}")["items"]]
    wait(lambda: any(c["type"] == "Complete" and c["status"] == "True"
                     for c in kjson("-n", ns, "get", "job", job).get("status", {}).get("conditions", []) or []))
    pods = kjson("-n", ns, "get", "pods", "-l", f"job-name={job}")["items"]
    pod = next(p for p in pods if p["status"].get("phase") == "Succeeded")  # a retried Job has more
    log = kubectl("-n", ns, "logs", pod["metadata"]["name"]).stdout
    match = re.search(rf"^(\S+ \S+) INFO\s+\S+: workers joined: {n}/{n}", log, re.M)
    joined = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=dt.timezone.utc)
    started = when(pod["status"]["startTime"])
    subprocess.run([HELM, "uninstall", release, "-n", ns, "--wait"], capture_output=True)
    return {"to_workers": (joined - started).total_seconds()}


DASKJOB = """
apiVersion: kubernetes.dask.org/v1
kind: DaskJob
metadata: {{name: {name}}}
spec:
  job:
    spec:
      containers:
        - name: job
          image: {image}
          imagePullPolicy: IfNotPresent
          args: [python, -c, "from distributed import Client; c = Client(); c.wait_for_workers({n}); import datetime; print('JOINED', datetime.datetime.now(datetime.timezone.utc).isoformat())"]
  cluster:
    spec:
      worker:
        replicas: {n}
        spec:
          containers:
            - name: worker
              image: {image}
              imagePullPolicy: IfNotPresent
              args: [dask, worker, --name, $(DASK_WORKER_NAME), --nthreads, "1"]
              resources: {{requests: {{cpu: 100m, memory: 300M}}, limits: {{cpu: 100m, memory: 300M}}}}
      scheduler:
        spec:
          containers:
            - name: scheduler
              image: {image}
              imagePullPolicy: IfNotPresent
              args: [dask, scheduler]
              ports: [{{name: tcp-comm, containerPort: 8786}}, {{name: http-dashboard, containerPort: 8787}}]
        service:
          type: ClusterIP
          selector: {{dask.org/component: scheduler}}
          ports:
            - {{name: tcp-comm, port: 8786, targetPort: tcp-comm}}
            - {{name: http-dashboard, port: 8787, targetPort: http-dashboard}}
"""


def operator_installed() -> bool:
    return kubectl("get", "deploy", "-A", "-l", "app.kubernetes.io/name=dask-kubernetes-operator",
                   "-o", "name").stdout.strip() != ""


def daskjob(ns: str, n: int) -> float | None:
    if not operator_installed():
        return None
    name = f"dj{n}-{uuid.uuid4().hex[:4]}"
    kubectl("-n", ns, "apply", "-f", "-", input=DASKJOB.format(name=name, image=IMAGE, n=n))
    runner = f"{name}-runner"

    def done():
        pod = kubectl("-n", ns, "get", "pod", runner, "-o", "json", check=False)
        if pod.returncode:
            return None
        pod = json.loads(pod.stdout)
        return pod if pod["status"].get("phase") == "Succeeded" else None

    pod = wait(done)
    log = kubectl("-n", ns, "logs", runner).stdout
    joined = when(re.search(r"JOINED (\S+)", log).group(1))
    kubectl("-n", ns, "delete", "daskjob", name, "--wait=false")
    return (joined - when(pod["status"]["startTime"])).total_seconds()


def main() -> None:
    ns = f"bench-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", ns)
    try:
        print(f"bare pod start (creation -> running): {bare_pod(ns):6.1f} s", flush=True)
        for n in (2, 8):
            ours = daskrun_run(ns, n)["to_workers"]
            theirs = daskjob(ns, n)
            line = f"N={n}: daskrun pod start -> {n} workers joined: {ours:6.1f} s"
            line += f" | DaskJob runner start -> {n} workers: {theirs:6.1f} s" if theirs is not None else \
                " | DaskJob: no dask operator installed"
            print(line, flush=True)
        wheels = os.environ.get("BENCH_PIP_PACKAGES", "sympy==1.13.3").split(",")
        for installer in ("uv", "pip"):
            seconds = daskrun_run(ns, 2, pip=wheels, installer=installer)["to_workers"]
            print(f"pip_packages {wheels} with {installer:>3}: pod start -> 2 workers joined {seconds:6.1f} s")
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", check=False)


if __name__ == "__main__":
    sys.exit(main())
