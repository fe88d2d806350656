"""Stress the start of Dask workers: many small runs of 2 workers, several at a time, against
$KUBECONFIG (e.g. the local cluster), counting every failed start (issue 24). Not in CI.

Each lane is one Helm release rerun with `helm upgrade` (a new Job per revision), so `--runs`
runs go `--parallel` at a time, back to back. A watch on the namespace's pods sees every
container of every run while it lives (the pods are gone once a run ends), and counts

- worker starts, and the worker containers that exited non-zero before they ran (with the
  last line of their log that names why: `Nanny failed to start`, a connect timeout, ...),
- launcher attempts: a Job that needed more than one pod retried after exit 4,
- with --dns-log, the negative answers CoreDNS gave for a run's scheduler Service name
  (its Corefile gets `log . {class denial}` for the run and is restored after), by asker:
  launcher, worker or another pod.

    python benchmarks/worker_starts.py --runs 100 --parallel 4 [--dns-log] [--image daskrun:VERSION]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import yaml

from daskrun import __version__

REPO = Path(__file__).resolve().parents[1]
RUN = {
    "run": {"function": "daskrun.examples.benchmark.run_benchmark",
            "args": {"iterations": 1, "challenges": ["blobs"], "tuners": ["random"]}},
    "dask_cluster": {"workers": 2, "worker_config": {"resources": {"memory": "700M", "cpu": "250m"}}},
}
JOB_TIMEOUT = 600.0


def kubectl(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, check=check, input=input)


def kjson(*args: str) -> dict:
    return json.loads(kubectl(*args, "-o", "json").stdout)


def helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["helm", *args], capture_output=True, text=True, check=True)


class PodWatch(threading.Thread):
    """Every pod of the namespace as it changes: role, IP, and each failed container start."""

    def __init__(self, namespace: str, log_dir: Path | None = None):
        super().__init__(daemon=True)
        self.log_dir = log_dir
        self.namespace = namespace
        self.roles: dict[str, str] = {}  # pod name -> launcher / scheduler / worker
        self.ips: dict[str, str] = {}  # pod IP -> role
        self.failed_starts: dict[tuple[str, int], str] = {}  # (pod, instance) -> why
        self.stopping = threading.Event()

    def run(self) -> None:
        process = subprocess.Popen(["kubectl", "get", "pods", "-n", self.namespace, "--watch", "--output-watch-events",
                                    "-o", "json"], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        decoder, buffer = json.JSONDecoder(), ""
        for line in process.stdout:
            buffer += line
            try:
                event, end = decoder.raw_decode(buffer.lstrip())
            except ValueError:
                continue
            buffer = buffer.lstrip()[end:]
            self.seen(event.get("object") or {})
            if self.stopping.is_set():
                break
        process.terminate()

    def seen(self, pod: dict) -> None:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        labels = meta.get("labels") or {}
        component = labels.get("app.kubernetes.io/component", "")
        role = {"run": "launcher", "dask-scheduler": "scheduler", "dask-worker": "worker"}.get(component, "other")
        name = meta.get("name", "")
        self.roles[name] = role
        if status.get("podIP"):
            self.ips[status["podIP"]] = role
        for container in status.get("containerStatuses") or []:
            restarts = int(container.get("restartCount") or 0)
            for instance, state in ((restarts, (container.get("state") or {}).get("terminated")),
                                    (restarts - 1, (container.get("lastState") or {}).get("terminated"))):
                if state and state.get("exitCode") and role in ("worker", "scheduler") and (name, instance) not in self.failed_starts:
                    self.failed_starts[(name, instance)] = self.why(name, instance != restarts, instance, labels, state)

    def why(self, pod: str, previous: bool, instance: int, labels: dict, state: dict) -> str:
        log = kubectl("logs", "-n", self.namespace, pod, *(["--previous"] if previous else []), "--timestamps",
                      check=False).stdout
        if self.log_dir:
            # The whole log of the failed start, and its scheduler's log at that moment: the evidence.
            cluster = labels.get("dask.org/cluster-name", "")
            scheduler = kubectl("logs", "-n", self.namespace, "-l",
                                f"dask.org/cluster-name={cluster},dask.org/component=scheduler", "--timestamps",
                                "--tail=-1", check=False).stdout
            (self.log_dir / f"{pod}.{instance}.log").write_text(
                f"# {pod} start {instance}: {json.dumps(state)}\n{log}\n# scheduler of {cluster}\n{scheduler}")
        named = [line for line in log.splitlines() if re.search(r"Error|Timed out|failed|Traceback", line)]
        return (named or log.splitlines() or ["(no log)"])[-1][-200:]


def run_lane(namespace: str, lane: int, runs: int, image: str, chart: str, results: list, progress) -> None:
    release = f"lane{lane}"
    repository, tag = image.rsplit(":", 1)
    values = {"image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
              "job": {"backoffLimit": 2}, **RUN}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(values, handle)
    for revision in range(1, runs + 1):
        started = time.monotonic()
        helm("upgrade", "--install", release, chart, "-n", namespace, "-f", handle.name)
        selector = f"app.kubernetes.io/instance={release},daskrun.io/revision={revision}"
        outcome = "timeout"
        while time.monotonic() - started < JOB_TIMEOUT:
            jobs = kjson("get", "jobs", "-n", namespace, "-l", selector)["items"]
            conditions = jobs[0].get("status", {}).get("conditions") or [] if jobs else []
            done = [c["type"] for c in conditions if c["status"] == "True" and c["type"] in ("Complete", "Failed")]
            if done:
                outcome = done[0]
                break
            time.sleep(1)
        job = jobs[0]["metadata"]["name"] if jobs else "?"
        pods = kjson("get", "pods", "-n", namespace, "-l", f"job-name={job}")["items"]
        logs = "\n".join(kubectl("logs", "-n", namespace, p["metadata"]["name"], check=False).stdout for p in pods)
        results.append({"lane": lane, "revision": revision, "outcome": outcome, "attempts": len(pods),
                        "seconds": time.monotonic() - started,
                        "restart_notices": logs.count("the kubelet restart"),
                        "http_answer": "HTTP/1.1" in logs or "EiB for an array" in logs,
                        "failing": "dask pods are failing" in logs})
        progress()


def dns_denials(since: float) -> list[str]:
    log = kubectl("logs", "-n", "kube-system", "deploy/coredns", f"--since-time={dt.datetime.fromtimestamp(since, dt.timezone.utc).isoformat()}", check=False).stdout
    return [line for line in log.splitlines() if "NXDOMAIN" in line]


def set_dns_log(on: bool) -> None:
    corefile = kjson("get", "configmap", "-n", "kube-system", "coredns")["data"]["Corefile"]
    corefile = corefile.replace("    log . {\n        class denial\n    }\n", "")
    if on:
        corefile = corefile.replace("    errors\n", "    errors\n    log . {\n        class denial\n    }\n", 1)
    patch = json.dumps({"data": {"Corefile": corefile}})
    kubectl("patch", "configmap", "-n", "kube-system", "coredns", "--type", "merge", "-p", patch)
    kubectl("rollout", "restart", "-n", "kube-system", "deploy/coredns")
    kubectl("rollout", "status", "-n", "kube-system", "deploy/coredns", "--timeout=120s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100, help="runs in all")
    parser.add_argument("--parallel", type=int, default=4, help="runs at a time")
    parser.add_argument("--image", default=f"daskrun:{__version__}")
    parser.add_argument("--chart", default=str(REPO / "chart"))
    parser.add_argument("--dns-log", action="store_true", help="log CoreDNS's negative answers during the runs")
    parser.add_argument("--log-dir", type=Path, help="keep the whole log of each failed start (and its scheduler's) here")
    args = parser.parse_args(argv)
    namespace = f"stress-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", namespace)
    if args.dns_log:
        set_dns_log(True)
    began = time.time()
    if args.log_dir:
        args.log_dir.mkdir(parents=True, exist_ok=True)
    watch = PodWatch(namespace, args.log_dir)
    watch.start()
    results: list[dict] = []
    lock = threading.Lock()

    def progress() -> None:
        with lock:
            last = results[-1]
            print(f"[{time.strftime('%H:%M:%S')}] {len(results)}/{args.runs} lane {last['lane']} "
                  f"rev {last['revision']}: {last['outcome']}, {last['attempts']} attempt(s), {last['seconds']:.0f}s, "
                  f"failed worker starts so far {len(watch.failed_starts)}", flush=True)

    per_lane = [args.runs // args.parallel + (1 if i < args.runs % args.parallel else 0) for i in range(args.parallel)]
    lanes = [threading.Thread(target=run_lane, args=(namespace, i, n, args.image, args.chart, results, progress))
             for i, n in enumerate(per_lane)]
    try:
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.join()
        time.sleep(2)  # the watch's last events
        denials = dns_denials(began) if args.dns_log else []
    finally:
        watch.stopping.set()
        if args.dns_log:
            set_dns_log(False)
        for i in range(args.parallel):
            subprocess.run(["helm", "uninstall", f"lane{i}", "-n", namespace, "--wait"], capture_output=True)
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)

    workers = [p for p, role in watch.roles.items() if role == "worker"]
    failed_workers = {k: v for k, v in watch.failed_starts.items() if watch.roles.get(k[0]) == "worker"}
    print(f"\n{len(results)} runs of 2 workers, {args.parallel} at a time, image {args.image}:")
    outcomes = collections.Counter(r["outcome"] for r in results)
    print(f"  Jobs: {dict(outcomes)}; runs that needed a second launcher attempt: "
          f"{sum(r['attempts'] > 1 for r in results)} (launcher pods in all: {sum(r['attempts'] for r in results)})")
    print(f"  worker pods: {len(workers)}; failed worker container starts: {len(failed_workers)}; "
          f"failed scheduler starts: {len(watch.failed_starts) - len(failed_workers)}")
    print(f"  launchers answered in HTTP on the comm port: {sum(r['http_answer'] for r in results)}; "
          f"restarts told by the launcher: {sum(r['restart_notices'] for r in results)}")
    for why, count in collections.Counter(watch.failed_starts.values()).most_common(8):
        print(f"    {count} x {why}")
    if args.dns_log:
        scheduler_names = [d for d in denials if re.search(r'"A IN \S+-scheduler\.' + namespace + r'\.svc\.cluster\.local\. ', d)]
        askers = collections.Counter(watch.ips.get(d.split("]")[1].strip().split(":")[0].strip(" -"), "other")
                                     if "]" in d else "other" for d in scheduler_names)
        print(f"  CoreDNS negative answers for a scheduler Service name: {len(scheduler_names)} {dict(askers)}")
        for line in scheduler_names[:10]:
            print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
