#!/usr/bin/env bash
# The kind path, for machines with Docker and a registry: kind.sh up|down.
# kind itself is built from the Go module proxy into .tools/bin of the repository.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
KIND_VERSION="${KIND_VERSION:-v0.30.0}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.34.0}"
KIND_CLUSTER="${KIND_CLUSTER:-daskrun}"
IMAGE="${IMAGE:-daskrun:$(sh "$REPO_ROOT/tools/app_version.sh")}"
# The chart's default workerImage: the image's repository with -worker, the same tag (lib.sh's rule).
WORKER_IMAGE="${WORKER_IMAGE:-${IMAGE%%:*}-worker:${IMAGE##*:}}"
TOOLS_BIN="$REPO_ROOT/.tools/bin"
KIND="$TOOLS_BIN/kind-$KIND_VERSION"

if [[ ! -x "$KIND" ]]; then
  mkdir -p "$TOOLS_BIN"
  GOBIN="$(mktemp -d)" && export GOBIN
  go install "sigs.k8s.io/kind@$KIND_VERSION"
  mv "$GOBIN/kind" "$KIND" && rmdir "$GOBIN"
fi

case "${1:-}" in
  up)
    if [[ $("$KIND" get clusters 2>/dev/null | grep -cxF "$KIND_CLUSTER") == 0 ]]; then
      "$KIND" create cluster --name "$KIND_CLUSTER" --image "$KIND_NODE_IMAGE" --wait 180s
    fi
    docker build -t "$IMAGE" "$REPO_ROOT"
    docker build --target worker -t "$WORKER_IMAGE" "$REPO_ROOT"
    "$KIND" load docker-image "$IMAGE" "$WORKER_IMAGE" --name "$KIND_CLUSTER"
    mkdir -p "$REPO_ROOT/.cluster"
    "$KIND" get kubeconfig --name "$KIND_CLUSTER" >"$REPO_ROOT/.cluster/kubeconfig"
    echo "export KUBECONFIG=$REPO_ROOT/.cluster/kubeconfig"
    ;;
  down)
    "$KIND" delete cluster --name "$KIND_CLUSTER"
    rm -rf "$REPO_ROOT/.cluster"
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
