"""daskrun's overhead on a local run, printed as figures (not asserted).

Side by side in one process tree: `daskrun run --local` on values.example.yaml against a
bare script that starts the same LocalCluster and calls the same function, plus daskrun's
start-up time (`daskrun --version` and `daskrun validate`). Targets: ratio <= 1.10,
start-up < 0.5 s. `--before DIR` adds a third command, interleaved with the other two: the
same run with another tree's runtime (e.g. `git worktree add /tmp/before HEAD~1`, then
`--before /tmp/before/runtime`), for a before/after ratio measured in one process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "values.example.yaml"
BARE = """
import yaml
from distributed import Client, LocalCluster
from daskrun.examples.benchmark import run_benchmark
if __name__ == "__main__":  # worker processes are spawned and re-import this file
    config = yaml.safe_load(open({example!r}))
    cluster = LocalCluster(n_workers=config["dask_cluster"]["workers"], threads_per_worker=1,
                           memory_limit="1GB", dashboard_address=":0")
    with cluster, Client(cluster):
        run_benchmark(**config["run"]["args"]).to_csv("bare.csv")
"""


def timed(argv: list[str], cwd: str, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main(rounds: int = 3, before: str | None = None) -> None:
    daskrun = [sys.executable, "-m", "daskrun"]
    with tempfile.TemporaryDirectory() as cwd:
        bare = Path(cwd) / "bare.py"
        bare.write_text(BARE.format(example=str(EXAMPLE)))
        startup = [timed(daskrun + ["--version"], cwd) for _ in range(5)]
        validate = [timed(daskrun + ["validate", str(EXAMPLE)], cwd) for _ in range(5)]
        # PYTHONPATH comes before the editable install's path entry, so `before` is imported.
        before_env = {**os.environ, "PYTHONPATH": before} if before else None
        pairs, befores = [], []
        for _ in range(rounds):  # interleaved, so drift on the machine hits all alike
            baseline = timed([sys.executable, str(bare)], cwd)
            ours = timed(daskrun + ["run", str(EXAMPLE), "--local"], cwd)
            pairs.append((baseline, ours))
            if before_env:
                befores.append(timed(daskrun + ["run", str(EXAMPLE), "--local"], cwd, before_env))
    base = statistics.median(p[0] for p in pairs)
    ours = statistics.median(p[1] for p in pairs)
    print(f"bare LocalCluster script : {base:7.2f} s (median of {rounds})")
    print(f"daskrun run --local      : {ours:7.2f} s (median of {rounds})")
    print(f"ratio                    : {ours / base:7.3f}   (target <= 1.10)")
    if befores:
        earlier = statistics.median(befores)
        print(f"  the same with {before}: {earlier:7.2f} s, ratio {earlier / base:7.3f}")
    print(f"daskrun --version        : {statistics.median(startup):7.3f} s (python start included)")
    print(f"daskrun validate example : {statistics.median(validate):7.3f} s   (target < 0.5 s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rounds", nargs="?", type=int, default=3)
    parser.add_argument("--before", metavar="DIR", help="another tree's runtime/ directory, run interleaved")
    options = parser.parse_args()
    main(options.rounds, options.before)
