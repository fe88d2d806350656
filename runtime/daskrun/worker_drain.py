"""A worker pod that is stopped (evicted, preempted, drained, scaled down) hands over its work
before it goes, so a spot pool's reclaim recomputes nothing.

The worker container's preStop hook runs DRAIN before the kubelet sends SIGTERM: through the
scheduler, it pauses its worker (no task starts there again), waits for the tasks already
running on it to finish, then retires it with Dask's own graceful retirement (its results are
copied to other workers first). A worker killed outright still costs only its own tasks.

Plain `distributed`, no daskrun: a worker may run the user's own image.
"""

from __future__ import annotations

from typing import Any

DRAIN_WAIT = 40  # seconds the running tasks get to finish before the worker retires anyway
GRACE_PERIOD = 75  # the worker pod's terminationGracePeriodSeconds: the wait, retirement, exit

DRAIN = """
import os, sys, time
from distributed import Client

def pause(dask_worker):
    from distributed.core import Status
    dask_worker.status = Status.paused

def executing(dask_worker):
    return len(dask_worker.state.executing)

name, deadline = os.environ.get("DASK_WORKER_NAME"), time.monotonic() + float(sys.argv[1])
try:
    client = Client(os.environ["DASK_SCHEDULER_ADDRESS"], timeout=5)
except Exception:
    sys.exit(0)  # no scheduler: the whole cluster is going, nothing to hand over
with client:
    workers = client.scheduler_info(n_workers=-1)["workers"]
    address = next((a for a, w in workers.items() if str(w.get("name")) == name), None)
    if address is None or len(workers) < 2:
        sys.exit(0)  # nobody to hand over to
    client.run(pause, workers=[address])
    while time.monotonic() < deadline and client.run(executing, workers=[address]).get(address):
        time.sleep(0.5)
    client.retire_workers(names=[name], close_workers=True)
    print(f"daskrun: worker {name} retired gracefully", flush=True)
"""


def pre_stop_hook() -> dict[str, Any]:
    """The worker container's `lifecycle`: DRAIN with whichever Python the image has."""
    command = 'exec "$(command -v python3 || command -v python)" -c "$0" "$1"'
    return {"preStop": {"exec": {"command": ["sh", "-c", command, DRAIN, str(DRAIN_WAIT)]}}}
