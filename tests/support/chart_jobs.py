"""The chart's launcher Job and ConfigMap as the API server returns them, built on the spot, and
what the result reader pod prints: for `daskrun result` and `daskrun report` tests."""

from __future__ import annotations

import base64
import json

from daskrun import __version__
from daskrun.manifest import IMAGE_UID

RELEASE, NAMESPACE = "demo", "runs"
FUNCTION = {"function": "sample_functions:squares"}


def chart_job(
    revision: int = 1,
    *,
    claim: str | None = None,
    sub_path: str | None = None,
    output_dir: str | None = None,
    condition: str | None = "Complete",
    created: str = "2026-12-03T10:00:00Z",
    started: str | None = "2026-12-03T10:00:00Z",
    run_hash: str = "ba36968d",
    suspend: bool = False,
) -> dict:
    """A Job as chart/templates/job.yaml makes it and the API server returns it (the parts
    `daskrun result` reads); test_the_chart_job_helper_matches_the_chart checks it against Helm."""
    name = f"{RELEASE}-daskrun-r{revision}-{run_hash}"
    mounts = [
        {"name": "config", "mountPath": "/etc/daskrun", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "home", "mountPath": "/home/daskrun"},
    ]
    volumes: list[dict] = [
        {"name": "config", "configMap": {"name": name}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "home", "emptyDir": {}},
    ]
    if claim:
        mounts.append({"name": "output", "mountPath": output_dir, **({"subPath": sub_path} if sub_path else {})})
        volumes.append({"name": "output", "persistentVolumeClaim": {"claimName": claim}})
    status: dict = {"startTime": started} if started else {}
    if condition:
        status["conditions"] = [
            {"type": condition, "status": "True", "reason": "PodFailurePolicy", "message": "exit 3"}
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": f"uid-{revision}-{run_hash}",
            "creationTimestamp": created,
            "labels": {
                "app.kubernetes.io/instance": RELEASE,
                "app.kubernetes.io/component": "run",
                "daskrun.io/revision": str(revision),
            },
        },
        "spec": {
            "suspend": suspend,
            "template": {
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": IMAGE_UID,
                        "runAsGroup": IMAGE_UID,
                        "fsGroup": IMAGE_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "daskrun",
                            "image": f"daskrun:{__version__}",
                            "args": ["daskrun", "run", "/etc/daskrun/config.yaml"],
                            "workingDir": "/home/daskrun",
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                }
            },
        },
        "status": status,
    }


def chart_config_map(job: dict, config: dict) -> dict:
    """The run's ConfigMap as chart/templates/configmap.yaml writes it: JSON under config.yaml."""
    name = job["metadata"]["name"]
    return {"metadata": {"name": name, "namespace": NAMESPACE}, "data": {"config.yaml": json.dumps(config, indent=2)}}


def reader_output(data: bytes) -> bytes:
    """What READER_SCRIPT prints for a file of `data` (base64.encode writes encodebytes' lines)."""
    return b"%d\n" % len(data) + base64.encodebytes(data)
