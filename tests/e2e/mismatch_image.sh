#!/usr/bin/env bash
# The worker image of the version-mismatch e2e case (tests/e2e/mismatch/Dockerfile): $IMAGE
# with dask and distributed of release VERSION, imported into the local cluster's containerd.
# A rebuild is a layer-cache hit; the import (seconds per GB) happens only when the image ID
# differs from the one this cluster imported last (a stamp in its state, gone with the cluster).
# Usage: mismatch_image.sh VERSION; prints the image's reference.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/../cluster/lib.sh"
VERSION="${1:?usage: $0 VERSION (of dask and distributed)}"
MISMATCH_IMAGE="${IMAGE%%:*}-mismatch:${IMAGE##*:}-distributed-$VERSION"

bash "$HERE/../cluster/images.sh" dockerd
docker build -q --network host --build-arg "DASKRUN_IMAGE=$IMAGE" --build-arg "DISTRIBUTED=$VERSION" \
  -t "$MISMATCH_IMAGE" "$HERE/mismatch" >/dev/null
[[ -S "$CONTAINERD_SOCK" ]] || die "cluster containerd is not running (make cluster-up)"
id="$(docker image inspect -f '{{.Id}}' "$MISMATCH_IMAGE")"
stamp="$STATE/imported/${MISMATCH_IMAGE//[\/:]/_}"
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$id" ]]; then
  docker save "$MISMATCH_IMAGE" | ctr_k8s images import - >/dev/null
  mkdir -p "$(dirname "$stamp")" && echo "$id" >"$stamp"
  log "loaded $MISMATCH_IMAGE"
fi
echo "$MISMATCH_IMAGE"
