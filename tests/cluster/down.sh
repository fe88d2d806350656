#!/usr/bin/env bash
# Stop everything up.sh started and leave the host clean: processes, pod containers and
# shims, the image registry and its storage, mounts, CNI interfaces and IPAM state, iptables
# chains, the NetworkPolicy engine's ipsets, pod cgroups, sysctls, the node interface, the
# state dir and .cluster/.
# Safe to run at any time.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

[[ $EUID -eq 0 ]] || die "must run as root"

# Processes whose command line names our containerd's socket: its runc shims.
our_shims() {
  local p
  for p in /proc/[0-9]*; do
    [[ -r "$p/cmdline" ]] || continue
    if [[ $(tr '\0' ' ' 2>/dev/null <"$p/cmdline") =~ containerd-shim.*-address\ "$CONTAINERD_SOCK" ]]; then
      echo "${p#/proc/}"
    fi
  done
}

# Every process in the pod cgroups kubelet made (all of them belong to our pods).
pod_procs() {
  local h
  for h in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods /sys/fs/cgroup/kubepods; do
    [[ -d "$h" ]] && find "$h" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u
}

# Remove every container through our containerd while it still runs, so the shims exit
# and clean up after themselves (sockets, mounts); kill_pods is the fallback.
remove_containers() {
  [[ -S "$CONTAINERD_SOCK" ]] && pid_alive containerd || return 0
  local ids id
  ids="$(ctr_k8s tasks ls -q 2>/dev/null)"
  for id in $ids; do ctr_k8s tasks kill -s SIGKILL "$id" >/dev/null 2>&1; done
  for id in $ids; do timeout 20 ctr_k8s tasks rm -f "$id" >/dev/null 2>&1; done
  for id in $(ctr_k8s containers ls -q 2>/dev/null); do
    timeout 20 ctr_k8s containers rm "$id" >/dev/null 2>&1
  done
}

kill_pods() {
  local i pids
  for ((i = 0; i < 20; i++)); do
    pids="$(pod_procs) $(our_shims)"
    [[ -z "${pids// /}" ]] && return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    sleep 0.5
  done
  log "warning: some pod processes did not die: $(pod_procs | tr '\n' ' ')"
}

unmount_under() {
  local dir="$1" m
  # Deepest first; mountinfo escapes spaces as \040.
  awk '{print $5}' /proc/self/mountinfo | grep -E "^${dir}(/|$)" | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: cannot unmount $m"
  done
}

remove_cgroups() {
  local h
  for h in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods /sys/fs/cgroup/kubepods \
      ${OUR_DOCKERD:+/sys/fs/cgroup/*/docker}; do
    [[ -d "$h" ]] || continue
    find "$h" -depth -type d -exec rmdir {} + 2>/dev/null
    [[ -d "$h" ]] && log "warning: cgroup $h still exists"
  done
}

# Delete the rules in built-in chains that jump to KUBE-*/CNI-*/DASKRUN-* chains, then those chains.
flush_iptables() {
  local cmd table rule chain
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$cmd" -t "$table" -S >/dev/null 2>&1 || continue
      "$cmd" -t "$table" -S | grep -E '^-A [A-Z]+ .*-j (KUBE-|CNI-|DASKRUN-)' | grep -Ev '^-A (KUBE-|CNI-|DASKRUN-)' |
        while read -r rule; do
          eval "$cmd -t $table -D ${rule#-A }" 2>/dev/null
        done
      for chain in $("$cmd" -t "$table" -S | awk '/^-N (KUBE-|CNI-|DASKRUN-)/{print $2}'); do
        "$cmd" -t "$table" -F "$chain" 2>/dev/null
      done
      for chain in $("$cmd" -t "$table" -S | awk '/^-N (KUBE-|CNI-|DASKRUN-)/{print $2}'); do
        "$cmd" -t "$table" -X "$chain" 2>/dev/null
      done
    done
  done
}

OUR_DOCKERD=
# iptables-nft leaves the tables it created (with empty built-in chains) behind: delete
# those that did not exist before cluster-up, when nothing else put rules in them.
drop_new_nft_tables() {
  command -v nft >/dev/null && [[ -f "$STATE/nft-tables.orig" ]] || return 0
  local fam name
  nft list tables 2>/dev/null | while read -r _ fam name; do
    grep -qxF "table $fam $name" "$STATE/nft-tables.orig" && continue
    # Rules are the lines that are not table/chain headers, hooks, braces or blank.
    # Counted, not `grep -q`: under pipefail a reader that stops at the first match leaves the
    # writer a SIGPIPE, and the pipeline would read as "no rules".
    if [[ $(nft list table "$fam" "$name" 2>/dev/null | grep -cvE '^\s*(table|chain|type|\}|$)') == 0 ]]; then
      nft delete table "$fam" "$name" 2>/dev/null
    fi
  done
}

main() {
  local c
  # Node agents first so nothing restarts pods or rewrites rules while we tear them down.
  for c in kube-router kube-proxy kubelet; do stop "$c"; done
  remove_containers
  kill_pods
  for c in volume-provisioner registry containerd kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$c" 5; done
  [[ -s "$PIDS/dockerd.pid" ]] && OUR_DOCKERD=1
  stop dockerd 30
  kill_pods

  unmount_under "$STATE"
  # dockerd bind-mounts its data root onto itself; a killed dockerd leaves that behind.
  pgrep -x dockerd >/dev/null || unmount_under "$DOCKER_ROOT"
  local ns
  for ns in /run/netns/cni-*; do
    [[ -e "$ns" ]] || continue
    umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null
    rm -f "$ns"
  done
  remove_cgroups
  # containerd's shim sockets and fifos live in fixed dirs under /run: drop sockets no
  # process listens on any more (killed shims), then the dirs if empty.
  local sock listening
  listening="$(ss -xlH 2>/dev/null | awk '{print $5}')"
  for sock in /run/containerd/s/*; do
    [[ -S "$sock" ]] && ! grep -qxF "$sock" <<<"$listening" && rm -f "$sock"
  done
  # libcni's result cache: our network's entries and the loopback ones of the same sandboxes.
  local f id
  for f in /var/lib/cni/results/daskrun-*; do
    [[ -e "$f" ]] || continue
    id="${f#/var/lib/cni/results/daskrun-}"; id="${id%-*}"
    rm -f "$f" "/var/lib/cni/results/cni-loopback-$id-lo"
  done
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
  rmdir /run/containerd/s /run/containerd/fifo /run/containerd/runc/k8s.io \
    /run/containerd/runc /run/containerd /run/netns 2>/dev/null

  ip link show "$CNI_BRIDGE" >/dev/null 2>&1 && ip link delete "$CNI_BRIDGE"
  ip link show "$HOST_IF" >/dev/null 2>&1 && ip link delete "$HOST_IF"
  flush_iptables
  drop_netpol_sets
  ip rule del priority "$NO_SERVICE_TABLE" 2>/dev/null || true
  ip route flush table "$NO_SERVICE_TABLE" 2>/dev/null || true
  drop_new_nft_tables
  if command -v conntrack >/dev/null; then
    conntrack -D -s "$POD_CLUSTER_CIDR" >/dev/null 2>&1
    conntrack -D -d "$SERVICE_CIDR" >/dev/null 2>&1
  fi

  if [[ -f "$STATE/sysctl.orig" ]]; then
    while IFS= read -r kv; do sysctl -qw "$kv" >/dev/null 2>&1; done <"$STATE/sysctl.orig"
  fi
  if [[ -d "$STATE" ]]; then
    # A last check that nothing is mounted below before deleting it.
    # Counted, not `grep -q` (see above): a SIGPIPE here would read as "no mounts" and the
    # rm -rf would go through them.
    if [[ $(awk '{print $5}' /proc/self/mountinfo | grep -cE "^${STATE}(/|$)") != 0 ]]; then
      log "warning: mounts remain under $STATE; not deleting it"
    else
      rm -rf "$STATE"
    fi
  fi
  rm -rf "$OUT_DIR"
  log "cluster down"
}

main "$@"
exit
