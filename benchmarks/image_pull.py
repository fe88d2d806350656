"""What the workers' image costs a start on a node that lacks it (printed, never asserted).

For the full image (`daskrun`) and the slim worker image (`daskrun-worker`) as the workers'
image: the kubelet's own pull of it from the cluster's registry (tests/cluster/up.sh) onto a
node without any of its layers (every image of the project is removed from the node's
containerd first, since the images share their base layers, and loaded again afterwards), and
a warm start, from `helm install` to both workers joined with the image present. A worker pod on
a fresh node waits for the pull before its container starts, so its cold start is the warm one
plus the pull; the pull's share of that is printed.

Run with the local cluster up (`make bench-cluster`, or `BENCH_ARGS=--pull-only`); it calls
ctr through tests/cluster/lib.sh, so only against that cluster.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import uuid

import cluster_startup as bench

LIB = f". {bench.REPO}/tests/cluster/lib.sh"
# The kubelet's event: `Successfully pulled image "X" in 1.2s (1.2s including waiting). Image size: N bytes.`
PULLED = re.compile(r'pulled image "(?P<image>[^"]+)" in (?P<took>[\d.]+m?s)\b.*?Image size: (?P<bytes>\d+) bytes')


def cluster_shell(command: str) -> str:
    return subprocess.run(["bash", "-c", f"{LIB} && {command}"], capture_output=True, text=True, check=True).stdout


def seconds(took: str) -> float:
    return float(took[:-2]) / 1000 if took.endswith("ms") else float(took[:-1])


def evict_project_images() -> list[str]:
    """Remove every image but the cluster's own (pause, CoreDNS) from the node, by name, by
    digest and by the runtime's image-ID names: the project's images share their layers, and one
    name left holds them all. The mismatch image's import stamps go too."""
    rows = [line.split()[:3] for line in cluster_shell("ctr_k8s images ls").splitlines()[1:] if line.strip()]
    # By name, and by the image ID (docker's), which is the only name an imported image may keep.
    system = set(cluster_shell('printf "%s\\n" "$PAUSE_IMAGE" "$COREDNS_IMAGE"; '
                               'docker image inspect -f "{{.Id}}" "$PAUSE_IMAGE" "$COREDNS_IMAGE"').split())
    kept = {digest for name, _, digest in rows if name in system or name.removeprefix("docker.io/library/") in system}
    gone = [name for name, _, digest in rows if digest not in kept]
    if gone:
        cluster_shell("ctr_k8s images rm --sync " + " ".join(gone) + ' >/dev/null; rm -rf "$STATE/imported"')
    return gone


def restore_project_images() -> None:
    cluster_shell(f"bash {bench.REPO}/tests/cluster/images.sh load-system && bash {bench.REPO}/tests/cluster/images.sh load-project"
                  f" && bash {bench.REPO}/tests/e2e/operator_image.sh")


def cold_pull(ns: str, reference: str, secret: str) -> dict:
    """The kubelet's pull of `reference` onto a node without the project's layers."""
    evict_project_images()
    name = f"pull-{uuid.uuid4().hex[:5]}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "restartPolicy": "Never",
            "imagePullSecrets": [{"name": secret}],
            "containers": [{"name": "pull", "image": reference, "imagePullPolicy": "Always", "args": ["true"]}],
        },
    }
    bench.kubectl("apply", "-f", "-", input=json.dumps(pod))
    try:

        def pulled():
            events = bench.kjson("-n", ns, "get", "events", "--field-selector", f"involvedObject.name={name}")
            found = (PULLED.search(e.get("message", "")) for e in events["items"] if e.get("reason") == "Pulled")
            return next((m for m in found if m), None)

        match = bench.wait(pulled, timeout=600, what=f"the kubelet to pull {reference}")
        return {"pull": seconds(match.group("took")), "bytes": int(match.group("bytes"))}
    finally:
        bench.kubectl("-n", ns, "delete", "pod", name, "--wait=false", check=False)


def warm_start(ns: str, worker_image: str) -> float:
    release = f"wi{uuid.uuid4().hex[:5]}"
    repository, tag = worker_image.split(":")
    values = {
        "workerImage": {"repository": repository, "tag": tag},
        "run": {"function": bench.FUNCTION, "args": bench.ARGS},
        "dask_cluster": {"workers": 2, "worker_config": {"resources": bench.worker_resources(2), "nthreads": 1}},
    }
    start, log = bench.run_release(ns, release, values)
    joined = re.search(r"^(\S+ \S+) INFO\s+daskrun\.timeline: phase: all workers joined at \+", log, re.M)
    if not joined:
        raise RuntimeError(f"no 'all workers joined' phase in:\n{log[-2000:]}")
    return bench.log_time(joined.group(1)) - start


def pull_cost(ns: str, rounds: int = 2) -> None:
    facts = json.loads((bench.REPO / ".cluster" / "registry.json").read_text())
    secret = "bench-registry"
    bench.kubectl(
        "-n", ns, "create", "secret", "docker-registry", secret, f"--docker-server={facts['address']}",
        f"--docker-username={facts['username']}", f"--docker-password={facts['password']}",
    )
    tag = bench.IMAGE.split(":")[1]
    images = {"full": bench.IMAGE, "slim": f"{bench.IMAGE.split(':')[0]}-worker:{tag}"}
    rows: dict[str, dict] = {}
    try:
        for kind, image in images.items():
            pulls = [bench.measure(f"cold pull {image}", lambda: cold_pull(ns, f"{facts['address']}/{image}", secret))
                     for _ in range(rounds)]
            restore_project_images()
            starts = [bench.measure(f"warm start, workers on {image}", lambda: warm_start(ns, image)) for _ in range(rounds)]
            got = [p for p in pulls if p]
            warm = [s for s in starts if s]
            rows[kind] = {
                "image": image,
                "bytes": got[0]["bytes"] if got else None,
                "pull": statistics.median(p["pull"] for p in got) if got else None,
                "warm": statistics.median(warm) if warm else None,
            }
            print(f"{kind}: {json.dumps(rows[kind])}", file=sys.stderr, flush=True)
    finally:
        restore_project_images()
    print(f"\nthe workers' image on a node without it: the kubelet's pull from the cluster's registry (loopback, "
          f"so fetch and unpack, no network), and helm install -> 2 workers joined with it present (median of {rounds})")
    print(f"{'workers on':<24} | {'pulled MB':>9} | {'pull s':>7} | {'warm s':>7} | {'cold s':>7} | {'pull share':>10}")
    for row in rows.values():
        size = f"{row['bytes'] / 1e6:9.1f}" if row["bytes"] else f"{'-':>9}"
        cold = row["warm"] + row["pull"] if row["warm"] is not None and row["pull"] is not None else None
        share = f"{row['pull'] / cold:10.0%}" if cold else f"{'-':>10}"
        print(f"{row['image']:<24} | {size} | {bench.cell(row['pull'])} | {bench.cell(row['warm'])} | "
              f"{bench.cell(cold)} | {share}", flush=True)
    full, slim = rows.get("full", {}).get("pull"), rows.get("slim", {}).get("pull")
    print(f"slim/full pull: {bench.ratio(slim, full)}")


def main() -> int:
    ns = f"bench-pull-{uuid.uuid4().hex[:5]}"
    bench.kubectl("create", "namespace", ns)
    try:
        pull_cost(ns)
    finally:
        bench.kubectl("delete", "namespace", ns, "--wait=false", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
