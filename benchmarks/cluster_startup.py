"""Start-up in a real cluster, measured from the user's action (printed, never asserted).

One table, measured in one run: per N workers, seconds from the user's command (`helm install`
or `kubectl apply`) to all N workers joined and to the result kept, for
  - daskrun with its embedded controller (the chart's default),
  - daskrun with the external (official) dask operator,
  - a dask-kubernetes DaskJob with the same image, worker count, resources and function,
  - the floor: one pod (cached image) running a scheduler and one `dask worker`, to joined;
and the worker setup of the same pip_packages with uv against pip, TLS on against off, and the
workers' image pull, full against slim (image_pull.py). Ratios beside the times.

Timestamps come from the pods' logs (the node's clock) and this machine's clock, so against
a remote cluster the clocks must agree. With --lock FILE each group of measurements holds that
lock (flock), and the official operator, which acts on every DaskCluster in the cluster, is
installed and removed inside one hold.

Run from the repository root with KUBECONFIG set: `make bench-cluster` (BENCH_ARGS=--large adds
N = 32 and 64).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator

import pandas as pd
import yaml

from daskrun import __version__

REPO = Path(__file__).resolve().parents[1]
HELM = os.environ.get("HELM") or str(REPO / ".tools" / "bin" / "helm4")
IMAGE = os.environ.get("DASKRUN_IMAGE", f"daskrun:{__version__}")
OPERATOR_IMAGE = os.environ.get("OPERATOR_IMAGE", f"daskrun-operator:{__version__}")
FUNCTION = "daskrun.examples.benchmark.run_benchmark"
ARGS = {"iterations": 1, "challenges": ["branin"], "tuners": ["random"]}
TIMEOUT = 900


def worker_resources(n: int) -> dict[str, str]:
    # Tiny requests so that 64 workers fit on a 2-core node; requests = limits on every side.
    return {"cpu": f"{max(10, min(100, 1600 // n))}m", "memory": "400M" if n <= 8 else "300M"}


def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, check=check)


def kjson(*args: str) -> dict:
    return json.loads(kubectl(*args, "-o", "json").stdout)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([HELM, *args], capture_output=True, text=True, check=check)


def wait(predicate, timeout: float = TIMEOUT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise TimeoutError(what)


def log_time(line: str) -> float:
    """Epoch seconds of a `2026-11-29 07:01:17,061 INFO ...` log line (UTC, as in the image)."""
    stamp = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.replace(tzinfo=dt.timezone.utc).timestamp()


def marked(log: str, label: str) -> float:
    """Epoch seconds of a `LABEL <iso time>` line printed by the DaskJob runner or the floor pod."""
    match = re.search(rf"^{label} (\S+)$", log, re.M)
    if not match:
        raise RuntimeError(f"no {label} line in:\n{log[-2000:]}")
    return dt.datetime.fromisoformat(match.group(1)).timestamp()


PREPARE: str | None = None  # --prepare: run at the start of every hold of the lock


@contextlib.contextmanager
def held(lock: str | None) -> Iterator[None]:
    """The shared lock; inside it, the cluster is prepared again: whoever held the lock
    before may have loaded an image of other code. Without a lock the preparation runs too:
    a plain `make cluster-up` loads neither the operator's image nor a rebuilt one."""
    if not lock:
        if PREPARE:
            subprocess.run(["bash", "-c", PREPARE], check=True, cwd=REPO, stdout=sys.stderr)
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if PREPARE:
                subprocess.run(["bash", "-c", PREPARE], check=True, cwd=REPO, stdout=sys.stderr)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the floor ---------------------------------------------------------------------------------

STAMP = "$(python -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).isoformat())')"
FLOOR = f"""
dask scheduler --no-dashboard --port 8786 >/dev/null 2>&1 &
dask worker tcp://127.0.0.1:8786 --nthreads 1 >/dev/null 2>&1 &
python -c "from distributed import Client; Client('tcp://127.0.0.1:8786', timeout=300).wait_for_workers(1)"
echo JOINED {STAMP}
"""


def floor(ns: str) -> float:
    name = f"floor-{uuid.uuid4().hex[:5]}"
    # Three processes (scheduler, worker, client), each with what one worker gets.
    resources = {"cpu": f"{3 * int(worker_resources(1)['cpu'][:-1])}m", "memory": "1200M"}
    overrides = {"spec": {"containers": [{
        "name": name, "image": IMAGE, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", FLOOR],
        "resources": {"requests": resources, "limits": resources}}]}}
    start = time.time()
    kubectl("-n", ns, "run", name, f"--image={IMAGE}", "--restart=Never", f"--overrides={json.dumps(overrides)}")
    wait(lambda: kjson("-n", ns, "get", "pod", name)["status"].get("phase") in ("Succeeded", "Failed"),
         what="the floor pod")
    joined = marked(kubectl("-n", ns, "logs", name).stdout, "JOINED")
    kubectl("-n", ns, "delete", "pod", name, "--wait=false")
    return joined - start


# --- daskrun -----------------------------------------------------------------------------------

def job_of(ns: str, release: str) -> str:
    """The name of the release's Job (it carries the run's hash, so it is looked up)."""
    def name():
        jobs = kjson("-n", ns, "get", "jobs", "-l", f"app.kubernetes.io/instance={release}")["items"]
        return jobs[0]["metadata"]["name"] if jobs else None

    return wait(name, timeout=60, what=f"the Job of release {release}")


def daskrun(ns: str, n: int, mode: str, pip: list[str] | None = None, env: dict[str, str] | None = None,
            tls: bool = True) -> dict:
    release = f"b{n}{mode[:2]}{'' if tls else 'pl'}-{uuid.uuid4().hex[:4]}"
    worker: dict = {"resources": worker_resources(n), "nthreads": 1}
    if pip:
        worker["setup"] = {"pip_packages": pip}
    if env:
        worker["env"] = env
    values = {"controller": {"mode": mode},
              "run": {"function": FUNCTION, "args": ARGS},
              "dask_cluster": {"workers": n, "worker_config": worker, "tls": tls}}
    start, log = run_release(ns, release, values)
    phases = {m.group(2): log_time(m.group(1)) for m in
              re.finditer(r"^(\S+ \S+) INFO\s+daskrun\.timeline: phase: (.+?) at \+", log, re.M)}
    return {"joined": phases["all workers joined"] - start, "stored": phases["result stored"] - start,
            "table": log.split("phases of this run:\n", 1)[-1]}


def run_release(ns: str, release: str, values: dict, timeout: float = TIMEOUT) -> tuple[float, str]:
    """`helm install` the chart with `values` and the benchmark's image, wait for its Job to
    complete, uninstall it: when the install started, and the succeeded launcher pod's log."""
    values = {"image": {"repository": IMAGE.split(":")[0], "tag": IMAGE.split(":")[1]}, **values}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(values, handle)
    start = time.time()
    helm("install", release, str(REPO / "chart"), "-n", ns, "-f", handle.name)
    os.unlink(handle.name)
    job = job_of(ns, release)
    try:
        def finished():
            conditions = kjson("-n", ns, "get", "job", job).get("status", {}).get("conditions") or []
            return next((c["type"] for c in conditions if c["status"] == "True" and c["type"] in ("Complete", "Failed")), None)

        if wait(finished, timeout=timeout, what=f"job {job}") != "Complete":
            raise RuntimeError(f"{job} failed:\n" + kubectl("-n", ns, "logs", f"job/{job}", check=False).stdout[-3000:])
        pods = kjson("-n", ns, "get", "pods", "-l", f"job-name={job}")["items"]
        pod = next(p for p in pods if p["status"].get("phase") == "Succeeded")
        return start, kubectl("-n", ns, "logs", pod["metadata"]["name"]).stdout
    finally:
        helm("uninstall", release, "-n", ns, "--wait", check=False)


def adaptive(ns: str, maximum: int = 32, tasks: int = 128, seconds: float = 10.0) -> dict:
    """daskrun embedded, workers 1..maximum, under a load of sleeping tasks and then idle:
    when the workers reached the maximum, and when they were back to one."""
    release = f"ad{maximum}-{uuid.uuid4().hex[:4]}"
    values = {"run": {"function": "daskrun.examples.load.sleep_tasks",
                      "args": {"tasks": tasks, "seconds": seconds, "minimum": 1, "idle_timeout": 600}},
              "dask_cluster": {"workers": {"minimum": 1, "maximum": maximum},
                               "worker_config": {"resources": worker_resources(maximum), "nthreads": 1}}}
    _, log = run_release(ns, release, values, timeout=1500)
    recovered = subprocess.run([sys.executable, "-m", "daskrun", "recover", "-"], input=log,
                               capture_output=True, text=True, check=True).stdout
    history = pd.read_csv(io.StringIO(recovered))
    peak = int(history["workers"].max())
    at_peak = history.loc[history["workers"] == peak, "seconds"].iloc[0]
    done = history.loc[history["tasks_left"] == 0, "seconds"].iloc[0]
    idle = history[history["tasks_left"] == 0]
    back = idle.loc[idle["workers"] <= 1, "seconds"]
    return {"maximum": maximum, "peak": peak, "to_peak": float(at_peak), "load_done": float(done),
            "back_to_1": float(back.iloc[0] - done) if len(back) else None}


# --- DaskJob -----------------------------------------------------------------------------------

RUNNER = (
    "import datetime, json; from distributed import Client\n"
    "now = lambda: datetime.datetime.now(datetime.timezone.utc).isoformat()\n"
    "client = Client(); client.wait_for_workers({n}); print('JOINED', now(), flush=True)\n"
    "from daskrun.examples.benchmark import run_benchmark\n"
    "print(run_benchmark(**json.loads({args!r})).to_csv()); print('STORED', now(), flush=True)\n"
)


def daskjob_manifest(name: str, n: int) -> dict:
    resources = worker_resources(n)
    container = {"image": IMAGE, "imagePullPolicy": "IfNotPresent"}
    return {
        "apiVersion": "kubernetes.dask.org/v1", "kind": "DaskJob", "metadata": {"name": name},
        "spec": {
            "job": {"spec": {"containers": [{**container, "name": "job", "args": [
                "python", "-c", RUNNER.format(n=n, args=json.dumps(ARGS))]}]}},
            "cluster": {"spec": {
                "worker": {"replicas": n, "spec": {"containers": [{
                    **container, "name": "worker",
                    "args": ["dask", "worker", "--name", "$(DASK_WORKER_NAME)", "--nthreads", "1"],
                    "resources": {"requests": resources, "limits": resources}}]}},
                "scheduler": {
                    "spec": {"containers": [{
                        **container, "name": "scheduler", "args": ["dask", "scheduler"],
                        "ports": [{"name": "tcp-comm", "containerPort": 8786},
                                  {"name": "http-dashboard", "containerPort": 8787}]}]},
                    "service": {"type": "ClusterIP", "selector": {"dask.org/component": "scheduler"},
                                "ports": [{"name": "tcp-comm", "port": 8786, "targetPort": "tcp-comm"},
                                          {"name": "http-dashboard", "port": 8787, "targetPort": "http-dashboard"}]},
                }}},
        },
    }


def daskjob(ns: str, n: int) -> dict:
    name = f"dj{n}-{uuid.uuid4().hex[:4]}"
    start = time.time()
    kubectl("-n", ns, "apply", "-f", "-", input=json.dumps(daskjob_manifest(name, n)))
    runner = f"{name}-runner"
    try:
        def done():
            pod = kubectl("-n", ns, "get", "pod", runner, "-o", "json", check=False)
            phase = json.loads(pod.stdout)["status"].get("phase") if pod.returncode == 0 else None
            return phase if phase in ("Succeeded", "Failed") else None

        if wait(done, what=f"DaskJob {name}") != "Succeeded":
            raise RuntimeError(f"DaskJob {name} failed:\n" + kubectl("-n", ns, "logs", runner, check=False).stdout[-3000:])
        log = kubectl("-n", ns, "logs", runner).stdout
        return {"joined": marked(log, "JOINED") - start, "stored": marked(log, "STORED") - start}
    finally:
        kubectl("-n", ns, "delete", "daskjob", name, "--wait=false", check=False)


@contextlib.contextmanager
def official_operator() -> Iterator[None]:
    import dask_kubernetes

    chart = Path(dask_kubernetes.__file__).parent / "operator" / "deployment" / "helm" / "dask-kubernetes-operator"
    namespace = "dask-operator-bench"
    repository, tag = OPERATOR_IMAGE.split(":")
    try:
        helm("upgrade", "--install", "dask-operator", str(chart), "-n", namespace, "--create-namespace",
             "--set", f"image.name={repository}", "--set", f"image.tag={tag}",
             "--set", "image.pullPolicy=IfNotPresent", "--wait", "--timeout", "300s")
        yield
    finally:
        helm("uninstall", "dask-operator", "-n", namespace, "--wait", check=False)
        kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=120s", check=False)


# --- the table ---------------------------------------------------------------------------------

def cell(value: float | None) -> str:
    return f"{value:7.1f}" if value is not None else "      -"


def ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:6.2f}x" if ours and theirs else "      -"


def measure(name: str, action) -> dict | None:
    try:
        return action()
    except Exception as exc:  # one failed measurement must not lose the others
        print(f"  {name}: failed: {type(exc).__name__}: {str(exc)[:500]}", file=sys.stderr, flush=True)
        return None


def print_table(rows: dict[int, dict[str, dict | None]], counts: tuple[int, ...], floor_s: float | None) -> None:
    def get(n: int, kind: str, what: str) -> float | None:
        return (rows[n].get(kind) or {}).get(what)

    print(f"\nseconds from the user's command to all N workers joined / to the result kept "
          f"(image {IMAGE}; per worker min(100m, 1600m/N) cpu and {worker_resources(1)['memory']}, "
          f"{worker_resources(64)['memory']} above N=8)")
    print(f"floor (kubectl run -> one pod's scheduler + `dask worker` joined): {cell(floor_s)} s\n")
    head = (f"{'N':>3} | {'daskrun embedded':^15} | {'daskrun external':^15} | {'DaskJob':^15} | "
            f"{'emb/DJ':>7} {'ext/DJ':>7} {'emb/floor':>9}")
    print(head)
    print(f"{'':>3} | {'joined':>7} {'stored':>7} | {'joined':>7} {'stored':>7} | {'joined':>7} {'stored':>7} | "
          f"{'joined':>7} {'joined':>7} {'joined':>9}")
    print("-" * len(head))
    for n in counts:
        emb, ext, job = (get(n, k, "joined") for k in ("embedded", "external", "daskjob"))
        print(f"{n:>3} | {cell(emb)} {cell(get(n, 'embedded', 'stored'))} | {cell(ext)} "
              f"{cell(get(n, 'external', 'stored'))} | {cell(job)} {cell(get(n, 'daskjob', 'stored'))} | "
              f"{ratio(emb, job)} {ratio(ext, job)} {ratio(emb, floor_s):>9}", flush=True)


def tls_cost(ns: str, counts: tuple[int, ...] = (2, 8), rounds: int = 2) -> None:
    """daskrun embedded with the run's TLS (the default) and with `dask_cluster.tls: false`,
    alternating, `rounds` times per N: what the certificates, the Secret and the handshakes
    add to a start."""
    times: dict[tuple[int, bool], list[float]] = {}
    for n in counts:
        for _ in range(rounds):
            for tls in (True, False):
                got = measure(f"daskrun embedded N={n} tls={tls}", lambda: daskrun(ns, n, "embedded", tls=tls))
                if got:
                    times.setdefault((n, tls), []).append(got["joined"])
                    print(f"N={n} tls={tls}: joined {got['joined']:.1f} s", file=sys.stderr, flush=True)
    print(f"\nseconds from `helm install` to all N workers joined, daskrun embedded, TLS on against off "
          f"(median of {rounds}, alternating)")
    print(f"{'N':>3} | {'tls on':>7} | {'tls off':>7} | {'on/off':>7}")
    for n in counts:
        on, off = (statistics.median(times[(n, t)]) if times.get((n, t)) else None for t in (True, False))
        print(f"{n:>3} | {cell(on)} | {cell(off)} | {ratio(on, off)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="also N = 32 and 64, and adaptive 1 -> 32")
    parser.add_argument("--lock", help="flock this file around each group of measurements")
    parser.add_argument("--skip-setup", action="store_true", help="leave out uv against pip")
    parser.add_argument("--tls-only", action="store_true", help="only TLS on against off, N = 2 and 8")
    parser.add_argument("--pull-only", action="store_true", help="only the workers' image pull, full against slim")
    parser.add_argument("--prepare", help="shell command run first in every hold of the lock "
                                          "(make bench-cluster: bring up the local cluster, load the images)")
    args = parser.parse_args(argv)
    global PREPARE
    PREPARE = args.prepare
    counts = (1, 2, 8) + ((32, 64) if args.large else ())
    ns = f"bench-{uuid.uuid4().hex[:5]}"
    kubectl("create", "namespace", ns)
    import image_pull  # beside this file; it builds on this module's helpers

    if args.tls_only or args.pull_only:
        try:
            with held(args.lock):
                (tls_cost if args.tls_only else image_pull.pull_cost)(ns)
        finally:
            kubectl("delete", "namespace", ns, "--wait=false", check=False)
        return 0
    floor_s: float | None = None
    rows: dict[int, dict[str, dict | None]] = {n: {} for n in counts}
    # One hold of the lock per group, under ~10 minutes: the small counts together, each
    # large count alone; the official operator lives only inside the hold.
    groups = [tuple(n for n in counts if n <= 8)] + [(n,) for n in counts if n > 8]
    try:
        for group in groups:
            with held(args.lock):
                if floor_s is None:
                    floor_s = measure("floor", lambda: floor(ns))
                    print(f"floor (kubectl run -> 1 worker joined): {cell(floor_s)} s", file=sys.stderr, flush=True)
                for n in group:
                    rows[n]["embedded"] = measure(f"daskrun embedded N={n}", lambda: daskrun(ns, n, "embedded"))
                    if rows[n]["embedded"]:
                        print(f"N={n} embedded, phases of the run:\n{rows[n]['embedded']['table']}",
                              file=sys.stderr, flush=True)
                with official_operator():
                    for n in group:
                        rows[n]["external"] = measure(f"daskrun external N={n}", lambda: daskrun(ns, n, "external"))
                        rows[n]["daskjob"] = measure(f"DaskJob N={n}", lambda: daskjob(ns, n))
                        print(f"N={n}: " + json.dumps({k: {m: round(v, 1) for m, v in (r or {}).items()
                                                           if m != "table"} for k, r in rows[n].items()}),
                              file=sys.stderr, flush=True)
        print_table(rows, counts, floor_s)
        if args.large:
            with held(args.lock):
                scaled = measure("adaptive 1 -> 32", lambda: adaptive(ns))
            if scaled:
                back = scaled["back_to_1"]
                print(f"\nadaptive 1..{scaled['maximum']} (128 tasks of 10 s, then idle): peak {scaled['peak']} "
                      f"workers, reached {scaled['to_peak']:.0f} s after the function started; load done at "
                      f"{scaled['load_done']:.0f} s; back to 1 worker "
                      + (f"{back:.0f} s after the load ended" if back is not None else "not within 600 s"))
        with held(args.lock):
            tls_cost(ns)
        with held(args.lock):
            image_pull.pull_cost(ns)
        setup: dict = {}
        if not args.skip_setup:
            packages = os.environ.get("BENCH_PIP_PACKAGES", "sympy==1.13.3").split(",")
            with held(args.lock):
                for installer in ("uv", "pip"):
                    env = {"DASKRUN_PIP_INSTALLER": installer}
                    setup[installer] = measure(f"setup with {installer}",
                                               lambda: daskrun(ns, 2, "embedded", pip=packages, env=env))
        if setup:
            uv, pip = ((setup.get(i) or {}).get("joined") for i in ("uv", "pip"))
            print(f"\nworker setup pip_packages, N=2 embedded, helm install -> joined: uv {cell(uv)} s, "
                  f"pip {cell(pip)} s, uv/pip {ratio(uv, pip)}")
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
