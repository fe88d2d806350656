#!/usr/bin/env bash
# Bring up a single-node Kubernetes on this host (root, cgroup v1/cgroupfs).
# Idempotent: does nothing when the cluster is already up and healthy; cleans up a
# stale or half-started one first. See README.md in this directory.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"
. "$HERE/pki.sh"

COMPONENTS=(dockerd etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy
  kube-router registry volume-provisioner)
SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.conf.all.route_localnet)

[[ $EUID -eq 0 ]] || die "must run as root (containers, iptables, mounts)"

ensure_packages() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v ipset >/dev/null || missing+=(ipset)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  ((${#missing[@]} == 0)) && return 0
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# healthy [COMPONENT...]: the components (default: all) run, the API is ready, the node is
# Ready and, when they are among them, the NetworkPolicy engine enforces and the registry
# answers our user.
healthy() {
  local c
  (($#)) || set -- "${COMPONENTS[@]}"
  for c in "$@"; do [[ -z "$c" ]] || pid_alive "$c" || return 1; done
  [[ " $* " == *" kube-router "* ]] && { netpol_ready || return 1; }
  [[ " $* " == *" registry "* ]] && { registry_ready || return 1; }
  [[ " $* " == *" volume-provisioner "* ]] && { provisioner_ready || return 1; }
  kctl --request-timeout=5s get --raw /readyz >/dev/null 2>&1 || return 1
  [[ "$(kctl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

check_ports() {
  local port users
  for port in "$API_PORT" "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" 10248 10249 10250 10256 10257 10259 "$NETPOL_HEALTH_PORT" "$REGISTRY_PORT" "$PROVISIONER_METRICS_PORT"; do
    users="$(ss -ltnpH "sport = :$port" 2>/dev/null)"
    [[ -z "$users" ]] || die "port $port is already in use: $users"
  done
}

setup_host() {
  check_ports
  mkdir -p "$STATE" "$PIDS" "$LOGS"
  if [[ ! -f "$STATE/sysctl.orig" ]]; then
    local s
    for s in "${SYSCTLS[@]}"; do
      sysctl -n "$s" >/dev/null 2>&1 && echo "$s=$(sysctl -n "$s")"
    done >"$STATE/sysctl.orig"
  fi
  if [[ ! -f "$STATE/nft-tables.orig" ]]; then
    { command -v nft >/dev/null && nft list tables 2>/dev/null || true; } >"$STATE/nft-tables.orig"
  fi
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 \
    || die "net.bridge.bridge-nf-call-iptables unavailable (bridge netfilter missing in this kernel)"
  sysctl -qw net.bridge.bridge-nf-call-ip6tables=1 || true
  if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
    # A bridge without ports stands in for a dummy device (no dummy driver everywhere).
    ip link add "$HOST_IF" type bridge
  fi
  ip addr replace "$NODE_IP/32" dev "$HOST_IF"
  ip link set "$HOST_IF" up
}

# A pod's connection to a Service's ClusterIP that kube-proxy has not programmed yet (a fresh
# Service, up to a second or two on a loaded node), or to one without ready endpoints, is
# routed like any other address: out of the default route, masqueraded. In a cloud VPC nothing
# answers and Dask's connect retries; this machine's egress accepts every TCP connection and
# answers it, in HTTP ("HTTP/1.1 400 Bad Request", which Dask's handshake reads as a frame of
# 3.07 EiB) or in TLS with its own CA (a run's worker then refuses the scheduler's
# certificate): "Nanny failed to start." (issue 24). So the Service range never leaves the node.
# - From pods, by routing: the route is chosen after kube-proxy's DNAT, so only a packet still
#   addressed to the range takes the unreachable route. A filter rule cannot do it: the
#   NetworkPolicy engine keeps its FORWARD jump first and ACCEPTs a policy-selected pod's
#   allowed traffic there, before kube-proxy's own REJECT of a Service without endpoints.
#   The kernel rate-limits the host-unreachable ICMP such a route answers with (twice: per
#   peer for a route error, and by ICMP type), which turns most of a retrying client's tries
#   into timeouts; both limits are lifted for it, so every such connect fails at once.
# - From this host (OUTPUT, after kube-proxy's DNAT), by a filter rule: a host process's
#   first route lookup happens before DNAT, so the route would refuse every ClusterIP.
ICMP_RATEMASK_NO_UNREACHABLE=6160  # the kernel's default 6168 without type 3 (unreachable)
isolate_service_range() {
  local chain=DASKRUN-NO-SERVICE hook
  iptables -N "$chain" 2>/dev/null || iptables -F "$chain"
  iptables -A "$chain" -d "$SERVICE_CIDR" -p tcp -j REJECT --reject-with tcp-reset
  iptables -A "$chain" -d "$SERVICE_CIDR" -j REJECT --reject-with icmp-port-unreachable
  for hook in OUTPUT FORWARD; do
    iptables -C "$hook" -j "$chain" 2>/dev/null || iptables -I "$hook" 1 -j "$chain"
  done
  ip route replace unreachable "$SERVICE_CIDR" table "$NO_SERVICE_TABLE"
  [[ -n $(ip rule show priority "$NO_SERVICE_TABLE") ]] \
    || ip rule add priority "$NO_SERVICE_TABLE" from "$POD_CLUSTER_CIDR" to "$SERVICE_CIDR" table "$NO_SERVICE_TABLE"
  set_recorded_sysctl net.ipv4.icmp_ratemask "$ICMP_RATEMASK_NO_UNREACHABLE"
  set_recorded_sysctl net.ipv4.route.error_cost 0
}

# Recorded here, not in SYSCTLS, so a cluster started before the setting restores it too.
set_recorded_sysctl() {
  grep -q "^$1=" "$STATE/sysctl.orig" 2>/dev/null || echo "$1=$(sysctl -n "$1")" >>"$STATE/sysctl.orig"
  sysctl -qw "$1=$2"
}

start_etcd() {
  mkdir -p "$STATE/etcd"; chmod 700 "$STATE/etcd"
  start_proc etcd "$BIN/etcd" --name "$NODE_NAME" --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:$ETCD_PEER_PORT" \
    --listen-metrics-urls "" --quota-backend-bytes 2147483648 --log-level warn
  wait_for etcd 60 curl -sf -m 5 "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
}

start_control_plane() {
  start_proc kube-apiserver "$BIN/kube-apiserver" \
    --advertise-address "$NODE_IP" --bind-address "$NODE_IP" --secure-port "$API_PORT" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --client-ca-file "$PKI/ca.crt" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" \
    --service-account-signing-key-file "$PKI/sa.key" \
    --profiling=false --v=1
  wait_for kube-apiserver 120 kctl --request-timeout=5s get --raw /readyz

  local common=(--bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1)
  start_proc kube-controller-manager "$BIN/kube-controller-manager" "${common[@]}" \
    --kubeconfig "$PKI/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$PKI/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$PKI/controller-manager.kubeconfig" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --use-service-account-credentials=true --service-cluster-ip-range "$SERVICE_CIDR" \
    --cluster-name daskrun --controllers '*,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller'
  start_proc kube-scheduler "$BIN/kube-scheduler" "${common[@]}" \
    --kubeconfig "$PKI/scheduler.kubeconfig" \
    --authentication-kubeconfig "$PKI/scheduler.kubeconfig" \
    --authorization-kubeconfig "$PKI/scheduler.kubeconfig"
  wait_for kube-controller-manager 60 curl -skf -m 5 https://127.0.0.1:10257/healthz
  wait_for kube-scheduler 60 curl -skf -m 5 https://127.0.0.1:10259/healthz
}

# true when this process may not lower oom_score_adj (CAP_SYS_RESOURCE missing).
restrict_oom() {
  local eff; eff=$(awk '/^CapEff/{print $2}' /proc/self/status)
  if (( (16#$eff >> 24) & 1 )); then echo false; else echo true; fi
}

start_containerd() {
  local d="$STATE/containerd"
  mkdir -p "$d/root" "$d/state" "$d/run" "$STATE/cni/net.d" "$STATE/cni/ipam"
  cat >"$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$d/run/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Without CAP_SYS_RESOURCE (as in some VMs/sandboxes) runc can't lower oom_score_adj
  # to the sandbox's -998: clamp container values to containerd's own instead.
  restrict_oom_score_adj = $(restrict_oom)
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$d/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
TOML
  cat >"$STATE/cni/net.d/10-daskrun.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "daskrun",
  "plugins": [
    {
      "type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": true, "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  start_proc containerd containerd --config "$d/config.toml"
  wait_for containerd 60 ctr --address "$CONTAINERD_SOCK" version
}

start_kubelet() {
  local d="$STATE/kubelet"
  mkdir -p "$d" "$STATE/pod-logs"
  cat >"$STATE/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS: [$DNS_SVC_IP]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podLogsDir: $STATE/pod-logs
# Images come from local imports and can't be pulled again: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
serializeImagePulls: false
rotateCertificates: false
YAML
  start_proc kubelet "$BIN/kubelet" --config "$STATE/kubelet-config.yaml" \
    --kubeconfig "$PKI/kubelet.kubeconfig" --root-dir "$d" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1
  wait_for kubelet 120 curl -sf -m 5 http://127.0.0.1:10248/healthz
  wait_for kubelet 120 node_ready
}

node_ready() {
  [[ "$(kctl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

start_kube_proxy() {
  cat >"$STATE/kube-proxy-config.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CLUSTER_CIDR
hostnameOverride: $NODE_NAME
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
  start_proc kube-proxy "$BIN/kube-proxy" --config "$STATE/kube-proxy-config.yaml" --v=1
  wait_for kube-proxy 60 curl -sf -m 5 http://127.0.0.1:10256/healthz
}

# The NetworkPolicy engine: kube-router's network policy controller on the host, like
# kube-proxy, with its BGP router and service proxy off; it keeps iptables chains and ipsets
# in step with the NetworkPolicies. Why kube-router, why only its firewall: tests/cluster/README.md.
# It authenticates with a ServiceAccount token of its own that reads what its informers
# watch, and nothing else. Called with no kube-router running (a cold start, or after stop).
# sa_kubeconfig NAME DIR: a kubeconfig in DIR for the kube-system ServiceAccount NAME (applied
# before), for a host process that should hold its own narrow rights, not the admin's.
sa_kubeconfig() {
  local name="$1" dir="$2" token
  mkdir -p "$dir"; chmod 700 "$dir"
  token="$(kctl -n kube-system create token "$name" --duration=8760h 2>>"$LOGS/$name-apply.log")" \
    || fail_component "$name-apply" "cannot make a token for its ServiceAccount"
  # Not kctl: that one's --kubeconfig is the admin's, which `config set-*` would edit.
  local k=("$BIN/kubectl" --kubeconfig "$dir/kubeconfig.tmp")
  rm -f "$dir/kubeconfig.tmp"
  "${k[@]}" config set-cluster local --server="https://$NODE_IP:$API_PORT" \
    --certificate-authority="$PKI/ca.crt" --embed-certs >/dev/null
  "${k[@]}" config set-credentials "$name" --token="$token" >/dev/null
  "${k[@]}" config set-context local --cluster=local --user="$name" >/dev/null
  "${k[@]}" config use-context local >/dev/null
  mv "$dir/kubeconfig.tmp" "$dir/kubeconfig"
}

start_netpol() {
  local dir="$STATE/kube-router"
  kctl apply -f "$HERE/manifests/kube-router.yaml" >"$LOGS/kube-router-apply.log" 2>&1 \
    || fail_component kube-router-apply "applying its ServiceAccount and RBAC failed"
  sa_kubeconfig kube-router "$dir"
  start_proc kube-router "$BIN/kube-router-$KUBE_ROUTER_VERSION" --kubeconfig "$dir/kubeconfig" \
    --hostname-override "$NODE_NAME" --run-firewall=true --run-router=false --run-service-proxy=false \
    --service-cluster-ip-range "$SERVICE_CIDR" --health-port "$NETPOL_HEALTH_PORT" --metrics-port 0 --v=1
  wait_for kube-router 60 netpol_ready
}

# The volume provisioner (provisioner/main.go) and the default StorageClass it serves, so a
# claim without a class binds as on a cloud cluster. Its volumes are directories in the state
# dir: cluster-down frees them.
start_provisioner() {
  local dir="$STATE/volume-provisioner"
  sed -e "s|@PROVISIONER_NAME@|$PROVISIONER_NAME|" "$HERE/manifests/volume-provisioner.yaml" \
    | kctl apply -f - >"$LOGS/volume-provisioner-apply.log" 2>&1 \
    || fail_component volume-provisioner-apply "applying its ServiceAccount, RBAC and StorageClass failed"
  sa_kubeconfig volume-provisioner "$dir"
  start_proc volume-provisioner "$(provisioner_bin)" --kubeconfig "$dir/kubeconfig" \
    --name "$PROVISIONER_NAME" --root "$VOLUMES_DIR" --metrics-address "127.0.0.1:$PROVISIONER_METRICS_PORT"
  wait_for volume-provisioner 30 provisioner_ready
}

# The image registry the e2e suite pulls from with imagePullSecrets (CNCF Distribution,
# htpasswd auth). A user of ours with a password generated once per cluster, kept in the state
# dir; the facts tests need (address, user, password, the project image's name there) go to
# $REGISTRY_FACTS beside the kubeconfig. Its storage is in the state dir: cluster-down frees it.
start_registry() {
  local d="$REGISTRY_DIR"
  mkdir -p "$d/data" "$LOGS"; chmod 700 "$d"
  [[ -s "$d/password" ]] || (umask 077; openssl rand -hex 16 >"$d/password")
  (umask 077; htpasswd -niB "$REGISTRY_USER" <"$d/password" >"$d/htpasswd") 2>>"$LOGS/registry.log" \
    || fail_component registry "htpasswd failed"
  (umask 077; cat >"$d/config.yml" <<YAML
version: 0.1
log: {level: info, formatter: text, accesslog: {disabled: false}}
storage:
  filesystem: {rootdirectory: $d/data}
  maintenance: {uploadpurging: {enabled: false}}
http:
  addr: $REGISTRY_ADDR
  secret: $(openssl rand -hex 16)
auth:
  htpasswd: {realm: daskrun-cluster, path: $d/htpasswd}
YAML
  )
  # OTEL_TRACES_EXPORTER: distribution v3 exports traces over OTLP by default; nothing listens.
  start_proc registry env OTEL_TRACES_EXPORTER=none "$BIN/registry-$REGISTRY_VERSION" serve "$d/config.yml"
  wait_for registry 30 registry_ready
  write_registry_facts
}

write_registry_facts() {
  mkdir -p "$OUT_DIR"
  (umask 077; printf '{"address": "%s", "username": "%s", "password": "%s", "image": "%s"}\n' \
    "$REGISTRY_ADDR" "$REGISTRY_USER" "$(cat "$REGISTRY_DIR/password")" "$REGISTRY_IMAGE" >"$REGISTRY_FACTS")
}

start_dns() {
  sed -e "s|@DNS_SVC_IP@|$DNS_SVC_IP|; s|@COREDNS_IMAGE@|$COREDNS_IMAGE|" \
    "$HERE/manifests/coredns.yaml" | kctl apply -f - >"$LOGS/coredns-apply.log" 2>&1 \
    || fail_component coredns-apply "applying CoreDNS manifests failed"
  if ! kctl -n kube-system rollout status deploy/coredns --timeout=180s >>"$LOGS/coredns-apply.log" 2>&1; then
    kctl -n kube-system describe pods -l k8s-app=kube-dns >>"$LOGS/coredns-apply.log" 2>&1 || true
    kctl -n kube-system logs -l k8s-app=kube-dns --tail=40 >>"$LOGS/coredns-apply.log" 2>&1 || true
    fail_component coredns-apply "CoreDNS did not become ready"
  fi
}

write_kubeconfig() {
  mkdir -p "$OUT_DIR"
  cp "$PKI/admin.kubeconfig" "$KUBECONFIG_OUT"
  chmod 600 "$KUBECONFIG_OUT"
  # Wait for the default ServiceAccount so pods can be created right away.
  wait_for kube-controller-manager 60 kctl -n default get serviceaccount default
}

main() {
  local core=("${COMPONENTS[@]/kube-router/}")
  core=("${core[@]/registry/}")
  core=("${core[@]/volume-provisioner/}")
  if ! healthy && healthy "${core[@]}"; then
    # Healthy but for the NetworkPolicy engine, the registry or the provisioner (a cluster from before they
    # were added, or one died): (re)start only those. The engine rebuilds its rules from the
    # API; the registry gets the project image pushed again.
    ensure_packages
    if ! healthy kube-router; then
      log "cluster up, but its NetworkPolicy engine is not enforcing: (re)starting it"
      "$HERE/build.sh" netpol || die "building kube-router failed (see output above)"
      stop kube-router
      start_netpol
    fi
    if ! healthy registry; then
      log "cluster up, but its image registry is not answering: (re)starting it"
      "$HERE/build.sh" registry || die "building the registry failed (see output above)"
      stop registry
      start_registry
      [[ "${SKIP_PROJECT_IMAGE:-0}" == 1 ]] || "$HERE/images.sh" push
    fi
    if ! healthy volume-provisioner; then
      log "cluster up, but its volume provisioner is not running: (re)starting it"
      "$HERE/build.sh" provisioner || die "building the volume provisioner failed (see output above)"
      stop volume-provisioner
      start_provisioner
    fi
  fi
  if healthy; then
    isolate_service_range  # a cluster brought up before this rule existed gets it too
    mkdir -p "$OUT_DIR"
    install -m 600 "$PKI/admin.kubeconfig" "$KUBECONFIG_OUT"
    write_registry_facts
    log "cluster already up and healthy: KUBECONFIG=$KUBECONFIG_OUT"
    exit 0
  fi
  if [[ -d "$STATE" ]]; then
    log "found a stale or partial cluster in $STATE: cleaning it up first"
    "$HERE/down.sh"
  fi
  local t0=$SECONDS
  ensure_packages
  mkdir -p "$STATE" "$LOGS" "$PIDS"
  setup_host
  isolate_service_range
  "$HERE/images.sh" dockerd
  # The project image (debootstrap + docker build, mostly network) builds while the
  # binaries compile. Always built, so it matches the working tree; docker's layer cache
  # makes that a few seconds when nothing changed.
  if [[ "${SKIP_PROJECT_IMAGE:-0}" != 1 ]]; then
    setsid "$HERE/images.sh" project >"$LOGS/images.log" 2>&1 </dev/null &
    IMG_PID=$!
  fi
  log "building binaries (cached in $BIN)"
  "$HERE/build.sh" all || die "building binaries failed (see output above)"
  make_pki
  start_etcd
  start_control_plane
  start_containerd
  start_registry
  "$HERE/images.sh" load-system
  start_kubelet
  start_kube_proxy
  start_netpol
  start_provisioner
  start_dns
  write_kubeconfig
  if [[ -n "$IMG_PID" ]]; then
    wait "$IMG_PID" || fail_component images "building the project image failed"
    IMG_PID=
    "$HERE/images.sh" load-project
    "$HERE/images.sh" push
  fi
  log "cluster up in $((SECONDS - t0))s; node $NODE_NAME at $NODE_IP"
  log "admin kubeconfig written to $KUBECONFIG_OUT; use it with:"
  echo "export KUBECONFIG=$KUBECONFIG_OUT"
  # The first line only, read by sed to the end: `head -1` closes the pipe early, and under
  # pipefail cluster-info's SIGPIPE failed an up cluster (exit 141).
  kctl cluster-info | sed -n 1p
}

IMG_PID=
# On failure, stop the image build running in the background (its own process group).
trap '[[ -n "$IMG_PID" ]] && kill -- "-$IMG_PID" 2>/dev/null' EXIT
main "$@"
exit
