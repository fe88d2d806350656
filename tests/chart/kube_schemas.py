"""Strict JSON schemas for kubeconform, generated offline from the Kubernetes OpenAPI and CRDs.

    python tests/chart/kube_schemas.py OUT_DIR [CRD_FILE...]

reads api/openapi-spec/swagger.json of the k8s.io/kubernetes Go module at the version the
test cluster is built from (tests/cluster/k8s/go.mod; `go mod download` fetches it from the
module proxy unless the cluster build already did) and writes one standalone schema per
kind, named as kubeconform looks them up with
`-schema-location 'OUT_DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'`
(configmap-v1.json, job-batch-v1.json, daskcluster-kubernetes-v1.json). Each file keeps the
OpenAPI definitions it reaches under `definitions` (they are recursive, so no inlining).

Strict means what the API server's strict field validation means: an object with declared
properties accepts no other key, unless Kubernetes says it preserves unknown fields.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_GO_MOD = ROOT / "tests" / "cluster" / "k8s" / "go.mod"
DEFINITION_REF = "#/definitions/"


def kubernetes_version() -> str:
    match = re.search(r"^require k8s\.io/kubernetes (v\S+)$", CLUSTER_GO_MOD.read_text(), re.M)
    if not match:
        raise SystemExit(f"{CLUSTER_GO_MOD}: no `require k8s.io/kubernetes vX.Y.Z` line")
    return match.group(1)


def openapi_spec(version: str) -> dict[str, Any]:
    """swagger.json of k8s.io/kubernetes@version, from the Go module cache (downloaded once)."""
    result = subprocess.run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"go mod download k8s.io/kubernetes@{version} failed:\n{result.stdout}{result.stderr}")
    directory = Path(json.loads(result.stdout)["Dir"])
    return json.loads((directory / "api" / "openapi-spec" / "swagger.json").read_text())


def file_name(group: str, version: str, kind: str) -> str:
    """kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json` for group/version kind."""
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def strict(node: Any) -> Any:
    """The node with closed objects and Kubernetes' string formats as JSON-schema types."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict(value) for key, value in node.items()
           if key not in ("x-kubernetes-group-version-kind",)}
    if out.get("format") == "int-or-string" or out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"][len(DEFINITION_REF):]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


def reachable(definitions: dict[str, Any], name: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen[current] = definitions[current]
        todo.extend(_refs(definitions[current]) - seen.keys())
    return seen


def quantity_as_number(definitions: dict[str, Any]) -> None:
    """resource.Quantity is a string in the OpenAPI, but `cpu: 1` (a number) is what YAML
    writers produce and the API server accepts."""
    for name, node in definitions.items():
        if name.endswith(".api.resource.Quantity"):
            node.pop("format", None)
            node["type"] = ["string", "number"]


def openapi_schemas(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    definitions = strict(spec["definitions"])
    quantity_as_number(definitions)
    out: dict[str, dict[str, Any]] = {}
    for name, node in spec["definitions"].items():
        kinds = node.get("x-kubernetes-group-version-kind", [])
        if len(kinds) != 1 or "properties" not in node:
            continue  # a shared type (DeleteOptions, WatchEvent) or not a resource
        gvk = kinds[0]
        file = file_name(gvk["group"], gvk["version"], gvk["kind"])
        if file in out:
            continue
        out[file] = {
            "$ref": DEFINITION_REF + name,
            "definitions": reachable(definitions, name),
        }
    return out


def crd_schemas(paths: list[Path]) -> dict[str, dict[str, Any]]:
    out = {}
    for path in paths:
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = strict(version["schema"]["openAPIV3Schema"])
                # The API server checks metadata against ObjectMeta; here: any object.
                schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                for key in ("apiVersion", "kind"):
                    schema["properties"].setdefault(key, {"type": "string"})
                out[file_name(group, version["name"], kind)] = schema
    return out


def write(out_dir: Path, crd_files: list[Path]) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    schemas = openapi_schemas(openapi_spec(kubernetes_version()))
    schemas.update(crd_schemas(crd_files))
    for file, schema in schemas.items():
        (out_dir / file).write_text(json.dumps(schema, separators=(",", ":")))
    return len(schemas)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    count = write(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
    print(f"wrote {count} schemas to {sys.argv[1]}")
