"""Workers of an image with another dask and distributed than the launcher's: the run fails
before its function starts, with exit 2 and both versions named; the Job does not retry it,
no Dask resource is left, and run.json says why."""

from __future__ import annotations

import json
import os
import re
import subprocess

import boto3
import pytest

from cluster_tools import (
    IMAGE_REPOSITORY,
    IMAGE_TAG,
    REPO,
    assert_retried_never_after,
    dask_clusters,
    dask_pods,
    wait_until,
)

# dask and distributed of the workers' image (tests/e2e/mismatch/Dockerfile): a release on PyPI
# other than the one the image under test pins.
OTHER_DISTRIBUTED = "2026.7.1"


@pytest.fixture(scope="session")
def mismatch_image(cluster) -> str:
    """The image under test with OTHER_DISTRIBUTED, in the node's containerd: built once per
    session (later sessions hit the layer cache and skip the import, see the script)."""
    built = subprocess.run(
        ["bash", str(REPO / "tests" / "e2e" / "mismatch_image.sh"), OTHER_DISTRIBUTED],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "IMAGE": f"{IMAGE_REPOSITORY}:{IMAGE_TAG}"},
    )
    assert built.returncode == 0, f"building the mismatch image failed:\n{built.stdout}\n{built.stderr}"
    return built.stdout.strip().splitlines()[-1]


def test_workers_with_another_distributed_fail_the_run_before_its_function(
    namespace, release, s3_server, mismatch_image
):
    s3 = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id="e2e", aws_secret_access_key="e2e",
                      region_name="us-east-1")
    bucket = f"versions-{namespace}"[:63]
    s3.create_bucket(Bucket=bucket)
    rel = release()
    rel.install({
        "run": {"function": "daskrun.examples.benchmark.run_benchmark",
                "args": {"iterations": 1, "challenges": ["iris"], "tuners": ["random"]}},
        "dask_cluster": {"workers": 1, "worker_config": {
            "image": mismatch_image, "resources": {"memory": "700M", "cpu": "250m"}}},
        "output": {"path": "runs/mismatch.csv", "bucket": bucket, "endpoint_url": s3_server, "region": "us-east-1",
                   "key": "e2e", "secret_key": "e2e"},
    })
    assert rel.wait() == "Failed", rel.launcher_log()
    log = rel.launcher_log()
    launcher = re.search(r"distributed: (\S+) on launcher, scheduler; (\S+) on worker \S+", log)
    assert launcher, log
    assert launcher.group(2) == OTHER_DISTRIBUTED and launcher.group(1) != OTHER_DISTRIBUTED, log
    assert f"dask: {launcher.group(1)} on launcher, scheduler; {OTHER_DISTRIBUTED} on worker" in log, log
    assert (f"fix: set dask_cluster.worker_config.image (or the chart's workerImage) to an image with dask=={launcher.group(1)}, "
            f"distributed=={launcher.group(1)}, the versions the launcher runs") in log, log
    assert "in the driver beside the scheduler" not in log, "the function must not have started"
    # Exit 2 fails the Job at once (podFailurePolicy FailJob): the same images differ again.
    assert_retried_never_after(rel.pods(), 2, log)
    wait_until(lambda: not dask_clusters(namespace), 90, what="the DaskCluster to be deleted")
    wait_until(lambda: not dask_pods(namespace), 90, what="the Dask pods to be deleted")
    record = json.loads(s3.get_object(Bucket=bucket, Key="runs/mismatch.run.json")["Body"].read())
    assert record["exit_code"] == 2 and record["error"].startswith("VersionMismatch: "), record["error"]
    assert f"{OTHER_DISTRIBUTED} on worker" in record["error"]
    assert record["packages"]["workers"]["distributed"] == [OTHER_DISTRIBUTED]
    assert record["packages"]["launcher"]["distributed"] == launcher.group(1)
    assert rel.status()["exit_code"] == 2
