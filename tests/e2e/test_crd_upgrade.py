"""The CRD upgrade step of chart/README.md (`kubectl apply --server-side --force-conflicts -f
chart/crds/`) over CRDs created the way Helm creates them, from an older schema.

dask-kubernetes' CRDs have not changed for several releases, so the older version is the
shipped CRD without a field added in an earlier release (DaskCluster spec.idleTimeout). The
cluster's CRDs are the current ones again when the test ends, whatever happens.
"""

from __future__ import annotations

import copy

import yaml

from cluster_tools import CHART, IMAGE_REPOSITORY, IMAGE_TAG, kjson, kubectl, wait_until

CRD = "daskclusters.kubernetes.dask.org"
UPGRADE = ("apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds"))


def cluster(name: str, **spec) -> str:
    pod = {"containers": [{"name": "c", "image": f"{IMAGE_REPOSITORY}:{IMAGE_TAG}"}]}
    return yaml.safe_dump({
        "apiVersion": "kubernetes.dask.org/v1", "kind": "DaskCluster", "metadata": {"name": name},
        "spec": {"scheduler": {"spec": pod, "service": {}}, "worker": {"replicas": 0, "spec": pod}, **spec},
    })


def dry_run(namespace: str, manifest: str):
    """What the API server would store for manifest (server-side dry run, strict field
    validation as kubectl asks for by default), or its error."""
    result = kubectl("-n", namespace, "create", "--dry-run=server", "-o", "json", "-f", "-", input=manifest, check=False)
    return yaml.safe_load(result.stdout)["spec"] if result.returncode == 0 else result.stderr


def established() -> bool:
    status = kjson("get", "crd", CRD).get("status") or {}
    return any(c["type"] == "Established" and c["status"] == "True" for c in status.get("conditions") or [])


def test_crd_upgrade_with_server_side_apply(namespace, tmp_path):
    current = yaml.safe_load((CHART / "crds" / "daskcluster.yaml").read_text())
    older = copy.deepcopy(current)
    spec_schema = older["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    del spec_schema["properties"]["idleTimeout"]
    older_file = tmp_path / "daskcluster-older.yaml"
    try:
        # As Helm does (create/update, its own field manager), not server-side apply.
        live = kjson("get", "crd", CRD)
        older["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        older_file.write_text(yaml.safe_dump(older))
        kubectl("replace", "--field-manager=helm", "-f", str(older_file))
        wait_until(lambda: 'unknown field "spec.idleTimeout"' in str(dry_run(namespace, cluster("probe", idleTimeout=60))),
                   30, interval=1, what="the older schema to be served")
        kubectl("-n", namespace, "create", "-f", "-", input=cluster("survivor"))
        uid = kjson("-n", namespace, "get", "daskcluster", "survivor")["metadata"]["uid"]

        kubectl(*UPGRADE)
        wait_until(established, 30, interval=1, what="the upgraded CRD to be established")

        def serves_the_new_field():
            result = dry_run(namespace, cluster("probe", idleTimeout=60))
            return isinstance(result, dict) and result.get("idleTimeout") == 60

        wait_until(serves_the_new_field, 30, interval=1, what="the new field to be served")
        survivor = kjson("-n", namespace, "get", "daskcluster", "survivor")
        assert survivor["metadata"]["uid"] == uid
        assert survivor["spec"]["idleTimeout"] == 0  # the new schema's default, applied on read
        live_schema = kjson("get", "crd", CRD)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        assert live_schema == current["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        # Re-running the step is harmless (what an upgrade with unchanged CRDs does).
        kubectl(*UPGRADE)
    finally:
        kubectl(*UPGRADE, check=False)
        kubectl("-n", namespace, "delete", "daskcluster", "survivor", "--wait=false", check=False)
