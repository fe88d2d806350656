#!/usr/bin/env bash
# Builds the dask operator image for the external-controller e2e case (from the daskrun
# image, see operator/Dockerfile) and imports it into the local cluster's containerd.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/../cluster/lib.sh"
OPERATOR_IMAGE="${OPERATOR_IMAGE:-daskrun-operator:$APP_VERSION}"

bash "$HERE/../cluster/images.sh" dockerd
docker build -q --build-arg "DASKRUN_IMAGE=$IMAGE" -t "$OPERATOR_IMAGE" "$HERE/operator" >/dev/null
[[ -S "$CONTAINERD_SOCK" ]] || die "cluster containerd is not running (make cluster-up)"
docker save "$OPERATOR_IMAGE" | ctr_k8s images import - >/dev/null
log "loaded $OPERATOR_IMAGE"
