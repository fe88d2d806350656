# Shared settings and helpers for the local cluster scripts. Sourced, not run.
# shellcheck shell=bash disable=SC2034
CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$CLUSTER_DIR/../.." && pwd)"

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.4}"
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}" # github.com/cloudnativelabs/kube-router/v2, pinned in kube-router/go.mod
REGISTRY_VERSION="${REGISTRY_VERSION:-v3.1.2}" # github.com/distribution/distribution/v3, pinned in registry/go.mod
PAUSE_IMAGE="registry.k8s.io/pause:3.10"
COREDNS_IMAGE="localhost/daskrun-coredns:${COREDNS_VERSION}"
BASE_IMAGE="${BASE_IMAGE:-daskrun-base:bookworm-slim}"
APP_VERSION="$(sh "$REPO_ROOT/tools/app_version.sh")"
IMAGE="${IMAGE:-daskrun:$APP_VERSION}"
# The Dask workers' image (the Dockerfile's worker target), named as the chart's default names it.
WORKER_IMAGE="${WORKER_IMAGE:-${IMAGE%%:*}-worker:${IMAGE##*:}}"

# Build outputs and long-lived caches (binaries, dockerd's image store): kept across clusters.
CACHE_ROOT="${DASKRUN_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/daskrun-cluster}"
BIN="$CACHE_ROOT/$K8S_VERSION/bin"
DOCKER_ROOT="$CACHE_ROOT/docker"
# Everything of one running cluster (certs, configs, logs, pids, kubelet and containerd
# roots): removed by cluster-down.
STATE="${DASKRUN_CLUSTER_STATE:-/var/lib/daskrun-cluster}"
PIDS="$STATE/pids"
LOGS="$STATE/logs"
PKI="$STATE/pki"
# The kubeconfig handed to users and tests.
OUT_DIR="$REPO_ROOT/.cluster"
KUBECONFIG_OUT="$OUT_DIR/kubeconfig"

# The image registry (CNCF Distribution, htpasswd auth) on the node: loopback only, where the
# node's containerd (a host process) reaches it and nothing else does. containerd talks plain
# HTTP to a localhost registry without any hosts.toml, and basic auth never leaves the host.
# Its user and generated password live in $REGISTRY_DIR; tests read $REGISTRY_FACTS.
REGISTRY_PORT="${REGISTRY_PORT:-15000}"
REGISTRY_ADDR="127.0.0.1:$REGISTRY_PORT"
REGISTRY_USER=daskrun-e2e
REGISTRY_DIR="$STATE/registry"
REGISTRY_FACTS="$OUT_DIR/registry.json"
# The project images' names in the registry.
REGISTRY_IMAGE="$REGISTRY_ADDR/${IMAGE%%:*}:${IMAGE##*:}"
REGISTRY_WORKER_IMAGE="$REGISTRY_ADDR/${WORKER_IMAGE%%:*}:${WORKER_IMAGE##*:}"

# The dynamic volume provisioner (provisioner/main.go) behind the default StorageClass; its
# volumes are directories of $VOLUMES_DIR, and its metrics port is how up.sh sees it ready.
PROVISIONER_NAME=daskrun.local/host-directory
VOLUMES_DIR="$STATE/volumes"
PROVISIONER_METRICS_PORT="${PROVISIONER_METRICS_PORT:-15001}"

# Network layout. The node/API address lives on an interface of our own (a bridge without
# ports: not every kernel has the dummy driver), so it is routable from pods (through the
# `kubernetes` Service) and from the host alike.
NODE_NAME="daskrun-node"
HOST_IF="daskrun0"
NODE_IP="${NODE_IP:-10.250.0.1}"
POD_CIDR="10.244.0.0/24"
POD_CLUSTER_CIDR="10.244.0.0/16"
POD_GATEWAY="10.244.0.1"
SERVICE_CIDR="10.96.0.0/16"
# Routing table and rule priority of the Service range's unreachable route (up.sh isolate_service_range).
NO_SERVICE_TABLE=186
KUBERNETES_SVC_IP="10.96.0.1"
DNS_SVC_IP="10.96.0.10"
API_PORT=6443
ETCD_CLIENT_PORT=12379
ETCD_PEER_PORT=12380
CNI_BRIDGE="cni0"

CONTAINERD_SOCK="$STATE/containerd/run/containerd.sock"
DOCKER_SOCK="$STATE/docker.sock"
export DOCKER_HOST="unix://$DOCKER_SOCK"
export DOCKER_BUILDKIT=0 # BuildKit would pull its Dockerfile frontend from a registry

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

kctl() { "$BIN/kubectl" --kubeconfig "$PKI/admin.kubeconfig" "$@"; }
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }

# start_time PID: the process's start time (clock ticks since boot), to tell a recorded
# process from a later one that got the same pid.
start_time() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  # shellcheck disable=SC2086
  set -- $stat
  echo "${20}"
}

# recorded_pid NAME: the pid recorded for NAME when that very process still runs.
recorded_pid() {
  local f="$PIDS/$1.pid" pid st
  [[ -s "$f" ]] || return 1
  read -r pid st <"$f"
  [[ -n "$pid" && "$(start_time "$pid")" == "$st" ]] && echo "$pid"
}

# pid_alive NAME: the process recorded for NAME is running.
pid_alive() { recorded_pid "$1" >/dev/null; }

# start_proc NAME CMD...: start CMD detached, log to $LOGS/NAME.log, record its pid.
start_proc() {
  local name="$1"; shift
  mkdir -p "$PIDS" "$LOGS"
  if pid_alive "$name"; then return 0; fi
  log "starting $name"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo "$! $(start_time $!)" >"$PIDS/$name.pid"
}

# stop NAME [TIMEOUT]: SIGTERM the recorded process, SIGKILL after TIMEOUT seconds; forget
# its pid file.
stop() {
  local name="$1" t="${2:-15}" f="$PIDS/$1.pid" pid i
  [[ -s "$f" ]] || return 0
  if pid="$(recorded_pid "$name")"; then
    log "stopping $name ($pid)"
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < t * 5; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}

# The NetworkPolicy engine (kube-router, its firewall only): its health port and the
# iptables chain it hooks into FORWARD once it has synced the policies.
NETPOL_HEALTH_PORT=20244
NETPOL_CHAIN=KUBE-ROUTER-FORWARD

# netpol_ready: kube-router answers its health check (every controller it runs has beaten
# recently) and has put its chain in place, i.e. it enforces.
netpol_ready() {
  curl -sf -m 5 "http://127.0.0.1:$NETPOL_HEALTH_PORT/healthz" >/dev/null &&
    iptables -t filter -S "$NETPOL_CHAIN" >/dev/null 2>&1
}

# registry_ready: the registry answers its API for our user (and so has read its htpasswd).
registry_ready() {
  [[ -s "$REGISTRY_DIR/password" ]] || return 1
  curl -sf -m 5 -u "$REGISTRY_USER:$(cat "$REGISTRY_DIR/password")" "http://$REGISTRY_ADDR/v2/" >/dev/null
}

# provisioner_bin: the provisioner's binary, named by a hash of its sources, so an edit of
# main.go or its modules builds a new one and the cache never serves a stale one.
provisioner_bin() {
  local sum
  sum="$(cat "$CLUSTER_DIR/provisioner/main.go" "$CLUSTER_DIR/provisioner/go.sum" | sha256sum)"
  echo "$BIN/volume-provisioner-${sum:0:12}"
}

provisioner_ready() {
  curl -sf -m 5 "http://127.0.0.1:$PROVISIONER_METRICS_PORT/metrics" >/dev/null
}

# drop_netpol_sets: destroy the ipsets kube-router made (after its iptables rules are gone:
# a set a rule still references cannot be destroyed).
drop_netpol_sets() {
  command -v ipset >/dev/null || return 0
  local set
  for set in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router-)'); do
    ipset destroy "$set" 2>/dev/null
  done
  return 0
}

# fail_component NAME MSG: report which component failed with the tail of its log.
fail_component() {
  local name="$1"; shift
  log "ERROR: $name: $*"
  if [[ -f "$LOGS/$name.log" ]]; then
    log "---- last 40 lines of $LOGS/$name.log ----"
    tail -n 40 "$LOGS/$name.log" >&2
    log "----"
  fi
  log "state and logs are in $STATE; make cluster-down cleans up"
  exit 1
}

# wait_for NAME SECONDS CMD...: poll CMD until it succeeds; fail NAME when the process
# died or time ran out.
wait_for() {
  local name="$1" secs="$2"; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [[ -f "$PIDS/$name.pid" ]] && ! pid_alive "$name"; then
      fail_component "$name" "process exited"
    fi
    ((SECONDS < end)) || fail_component "$name" "not ready after ${secs}s"
    sleep 1
  done
}
