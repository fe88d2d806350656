#!/usr/bin/env bash
# Build every binary the local cluster needs from the Go module proxy (and gcc),
# into $DASKRUN_CLUSTER_CACHE/bin. Skips a binary that already exists.
# Usage: build.sh [k8s|etcd|coredns|netpol|registry|provisioner|pause|all]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

mkdir -p "$BIN"
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

build_k8s() {
  local ldf vpkg
  local major=${K8S_VERSION#v}; major=${major%%.*}
  local minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  ldf="-s -w"
  for vpkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor"
    ldf+=" -X $vpkg.gitCommit=0000000000000000000000000000000000000000 -X $vpkg.gitTreeState=clean"
    ldf+=" -X $vpkg.buildDate=1970-01-01T00:00:00Z"
  done
  for cmd in kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet; do
    [[ -x "$BIN/$cmd" ]] && continue
    log "building $cmd $K8S_VERSION"
    (cd "$HERE/k8s" && go build -trimpath -tags providerless -ldflags "$ldf" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
    mv "$BIN/$cmd.tmp" "$BIN/$cmd"
  done
}

build_etcd() {
  [[ -x "$BIN/etcd" ]] && return 0
  log "building etcd $ETCD_VERSION"
  (cd "$HERE/etcd" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_coredns() {
  [[ -x "$BIN/coredns" ]] && return 0
  log "building coredns $COREDNS_VERSION"
  (cd "$HERE/coredns" && go build -trimpath -ldflags "-s -w" -o "$BIN/coredns.tmp" github.com/coredns/coredns)
  mv "$BIN/coredns.tmp" "$BIN/coredns"
}

build_netpol() {
  [[ -x "$BIN/kube-router-$KUBE_ROUTER_VERSION" ]] && return 0
  log "building kube-router $KUBE_ROUTER_VERSION (the NetworkPolicy engine)"
  (cd "$HERE/kube-router" && go build -trimpath -ldflags "-s -w" \
    -o "$BIN/kube-router.tmp" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router)
  mv "$BIN/kube-router.tmp" "$BIN/kube-router-$KUBE_ROUTER_VERSION"
}

build_registry() {
  [[ -x "$BIN/registry-$REGISTRY_VERSION" ]] && return 0
  log "building the image registry (distribution $REGISTRY_VERSION)"
  (cd "$HERE/registry" && go build -trimpath -ldflags "-s -w" \
    -o "$BIN/registry.tmp" github.com/distribution/distribution/v3/cmd/registry)
  mv "$BIN/registry.tmp" "$BIN/registry-$REGISTRY_VERSION"
}

build_provisioner() {
  local out; out="$(provisioner_bin)"
  [[ -x "$out" ]] && return 0
  log "building the volume provisioner"
  (cd "$HERE/provisioner" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" .)
  mv "$out.tmp" "$out"
}

build_pause() {
  [[ -x "$BIN/pause" ]] && return 0
  log "building pause"
  gcc -Os -static -o "$BIN/pause.tmp" "$HERE/pause/pause.c"
  strip "$BIN/pause.tmp"
  mv "$BIN/pause.tmp" "$BIN/pause"
}

what="${1:-all}"
case "$what" in
  k8s) build_k8s ;;
  etcd) build_etcd ;;
  coredns) build_coredns ;;
  netpol) build_netpol ;;
  registry) build_registry ;;
  provisioner) build_provisioner ;;
  pause) build_pause ;;
  all) build_pause; build_etcd; build_coredns; build_netpol; build_registry; build_provisioner; build_k8s ;;
  *) die "unknown target $what" ;;
esac
exit
