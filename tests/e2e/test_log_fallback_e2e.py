"""The log fallback through a real kubelet: `kubectl logs --timestamps` gives back exact files.

One plain pod (no chart, ~15 s) prints a hostile DataFrame as a CSV block and as a Parquet
block, between foreign lines, with a 40 KB cell that the container runtime splits into
partial log records; both blocks are recovered from the real log, byte for byte what the pod
serialised. The pod prints its own digests: the image's pandas/pyarrow may be older than this
process's (a cached image layer), and their Parquet bytes name the pandas version.
"""

from __future__ import annotations

import hashlib
import io
import json
import re

import pandas as pd

from cluster_tools import IMAGE_REPOSITORY, IMAGE_TAG, kubectl, wait_pod_done
from daskrun.manifest import IMAGE_UID

# Run in the pod and here: the same frame on both sides.
FRAME = r'''
import pandas as pd
df = pd.DataFrame({
    "text": ["a\rb", "c\nd", "e\x0bf\x0cg", "\x1c\x1d\x1e\x85", "\u2028\u2029", "x" * 40_000, "daskrun-result| ",
             "----- END DASKRUN RESULT (csv) rows=1 sha256=" + "0" * 64 + " -----"],
    "n": [-(2**63), 2**63 - 1, 0, 1, 2, 3, 4, 5],
    "when": pd.to_datetime([0, 1, 2, 3, 4, 5, 6, None], unit="s", utc=True).tz_convert("Asia/Kolkata"),
    "kind": pd.Categorical(["p", "q", None, "p", "q", "p", "q", "p"]),
}, index=pd.Index([f"row{i}\t" for i in range(8)], name="name"))
'''
SCRIPT = FRAME + r'''
import hashlib, sys
from daskrun.output import print_result, serialise
for fmt in ("csv", "parquet"):
    print("DIGEST", fmt, hashlib.sha256(serialise(df, fmt)).hexdigest(), flush=True)
print("INFO before the blocks", flush=True)
print_result(df, sys.stdout, "csv")
print("INFO between the blocks", flush=True)
print_result(df, sys.stdout, "parquet")
print("INFO after the blocks", flush=True)
'''


def _frame() -> pd.DataFrame:
    scope: dict = {}
    exec(FRAME, scope)
    return scope["df"]


def test_log_blocks_survive_the_kubelet_and_kubectl_timestamps(namespace):
    from daskrun.result_block import recover_block

    restricted = {"runAsNonRoot": True, "runAsUser": IMAGE_UID, "allowPrivilegeEscalation": False,
                  "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "log-fallback"},
           "spec": {"restartPolicy": "Never", "containers": [{
               "name": "print", "image": f"{IMAGE_REPOSITORY}:{IMAGE_TAG}", "imagePullPolicy": "IfNotPresent",
               "command": ["python", "-c", SCRIPT], "securityContext": restricted,
               "resources": {"requests": {"cpu": "250m", "memory": "300M"}, "limits": {"memory": "300M"}}}]}}
    kubectl("-n", namespace, "apply", "-f", "-", input=json.dumps(pod))
    wait_pod_done(namespace, "log-fallback")
    log = kubectl("-n", namespace, "logs", "--timestamps", "log-fallback").stdout
    digests = dict(re.findall(r"DIGEST (csv|parquet) ([0-9a-f]{64})", log))
    assert set(digests) == {"csv", "parquet"}, log[:2000]
    parquet = recover_block(log)
    assert parquet.format == "parquet" and hashlib.sha256(parquet.data).hexdigest() == digests["parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(parquet.data)), _frame())
    csv_part = log.split("----- BEGIN DASKRUN RESULT (parquet) -----")[0]
    csv = recover_block(csv_part)
    assert csv.format == "csv" and hashlib.sha256(csv.data).hexdigest() == digests["csv"]
