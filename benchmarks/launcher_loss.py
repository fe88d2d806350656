"""What losing the launcher costs: seconds and recomputed tasks, per way of losing it (issue 20).

Runs the counted example (40 tasks of 3 s on 2 workers; every task execution is reported to a
server on this host, so reruns are counted, not inferred) against $KUBECONFIG, once
uninterrupted and once per loss, with the launcher lost when half of the tasks started:

- evicted through the Eviction API (what a drain or a preemption does),
- force-deleted (`--grace-period=0`: what a lost node looks like to the Job).

Give several `--image`s to compare builds in one run (e.g. an image built from the commit
before resumable runs, tagged `daskrun:before`); the table has a row per image and loss.
Not in CI.

    python benchmarks/launcher_loss.py [--image daskrun:VERSION --image daskrun:before] [--repeats 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from cluster_tools import IMAGE, evict, force_delete, kjson, kubectl  # noqa: E402
from counter_server import Counter  # noqa: E402

TASKS, SECONDS = 40, 3.0
JOB_TIMEOUT = 900.0


def node_address() -> str:
    node = kjson("get", "nodes")["items"][0]
    return next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")


def launcher(namespace: str, release: str) -> str | None:
    pods = kjson("get", "pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={release},"
                 "app.kubernetes.io/component=run")["items"]
    live = [p["metadata"]["name"] for p in pods if p["status"].get("phase") in ("Pending", "Running")
            and not p["metadata"].get("deletionTimestamp")]
    return live[0] if len(live) == 1 else None


LOSSES = {"uninterrupted": None, "evicted": evict, "force-deleted": force_delete}


def job_outcome(namespace: str, release: str) -> str | None:
    jobs = kjson("get", "jobs", "-n", namespace, "-l", f"app.kubernetes.io/instance={release}")["items"]
    conditions = (jobs[0].get("status") or {}).get("conditions") or [] if jobs else []
    done = [c["type"] for c in conditions if c["status"] == "True" and c["type"] in ("Complete", "Failed")]
    return done[0] if done else None


def one_run(image: str, loss: str, host: str) -> dict:
    namespace = f"bench-loss-{uuid.uuid4().hex[:6]}"
    release = "loss"
    kubectl("create", "namespace", namespace)
    repository, tag = image.rsplit(":", 1)
    try:
        with Counter(host) as counter, tempfile.NamedTemporaryFile("w", suffix=".yaml") as values:
            yaml.safe_dump({
                "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
                "run": {"function": "daskrun.examples.counted.tasks",
                        "args": {"report_url": counter.url, "tasks": TASKS, "seconds": SECONDS}},
                "dask_cluster": {"workers": 2, "worker_config": {"nthreads": 1,
                                                                 "resources": {"memory": "400M", "cpu": "200m"}}},
            }, values)
            values.flush()
            started = time.monotonic()
            subprocess.run(["helm", "install", release, str(REPO / "chart"), "-n", namespace, "-f", values.name],
                           check=True, capture_output=True)
            lose, lost = LOSSES[loss], False
            outcome = None
            while outcome is None and time.monotonic() - started < JOB_TIMEOUT:
                if lose and not lost and counter.tasks_started() >= TASKS // 2:
                    pod = launcher(namespace, release)
                    if pod:
                        lose(namespace, pod)
                        lost = True
                time.sleep(0.5)
                outcome = job_outcome(namespace, release)
            return {"image": image, "loss": loss, "outcome": outcome or "timeout",
                    "seconds": time.monotonic() - started, "executions": counter.executions(),
                    "rerun": counter.executions() - TASKS,
                    "function_starts": counter.snapshot().get("/function", 0)}
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", action="append", help=f"image to run (repeatable); default {IMAGE}")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    images = args.image or [IMAGE]
    host = node_address()
    rows = [one_run(image, loss, host) for image in images for loss in LOSSES for _ in range(args.repeats)]
    print(f"{TASKS} tasks of {SECONDS:g} s on 2 workers; launcher lost when half of the tasks started")
    print(f"{'image':<18} {'loss':<14} {'outcome':<9} {'seconds':>8} {'lost s':>7} {'executions':>10} "
          f"{'tasks rerun':>11} {'function starts':>15}")
    for image in images:
        base = statistics.median(r["seconds"] for r in rows if r["image"] == image and r["loss"] == "uninterrupted")
        for loss in LOSSES:
            mine = [r for r in rows if r["image"] == image and r["loss"] == loss]
            seconds = statistics.median(r["seconds"] for r in mine)
            print(f"{image:<18} {loss:<14} {mine[0]['outcome']:<9} {seconds:8.0f} {seconds - base:7.0f} "
                  f"{statistics.median(r['executions'] for r in mine):10.0f} "
                  f"{statistics.median(r['rerun'] for r in mine):11.0f} "
                  f"{statistics.median(r['function_starts'] for r in mine):15.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
