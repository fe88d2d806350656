#!/usr/bin/env bash
# Images without an outside registry: a private dockerd builds them, containerd (kubelet's)
# gets them by `ctr images import`, and the project images are pushed to the cluster's own
# registry too (up.sh start_registry), for the e2e tests that pull with imagePullSecrets.
# Usage: images.sh dockerd|base|system|project|project-if-missing|image|load-system|load-project|push
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"

docker_ok() { docker version >/dev/null 2>&1; }

# Our own dockerd (Debian docker.io), on its own socket, data root in the cache so the
# base image and build layers survive cluster-down. No bridge and no iptables rules:
# builds use the host network. It starts and stops its own managed containerd.
start_dockerd() {
  docker_ok && return 0
  command -v dockerd >/dev/null || die "dockerd not found: apt-get install -y docker.io"
  mkdir -p "$DOCKER_ROOT" "$STATE/docker-exec"
  start_proc dockerd dockerd \
    --data-root "$DOCKER_ROOT" --exec-root "$STATE/docker-exec" \
    --pidfile "$STATE/docker-exec/dockerd.pid" -H "$DOCKER_HOST" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --exec-opt native.cgroupdriver=cgroupfs --storage-driver=overlay2
  wait_for dockerd 60 docker_ok
}

# drop_rootfs DIR: remove a debootstrap target, unmounting what debootstrap left mounted.
drop_rootfs() {
  local m
  { awk '{print $5}' /proc/self/mountinfo | grep -E "^$1/" || true; } | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  rm -rf --one-file-system "$1"
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# daskrun-base:bookworm, made from scratch with debootstrap (Debian's default mirror, or
# $DEBOOTSTRAP_MIRROR): python3 + venv, as the Dockerfile's BASE_IMAGE must provide.
build_base() {
  have_image "$BASE_IMAGE" && return 0
  command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install -y debootstrap"
  local root ca=/etc/ssl/certs/ca-certificates.crt
  root="$(mktemp -d "$CACHE_ROOT/rootfs.XXXXXX")"
  log "debootstrap bookworm into $root (a few minutes)"
  # shellcheck disable=SC2086
  if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$root" ${DEBOOTSTRAP_MIRROR:-} >"$LOGS/debootstrap.log" 2>&1; then
    drop_rootfs "$root"; fail_component debootstrap "debootstrap failed"
  fi
  # Trust what the host trusts: local CAs (e.g. a TLS-inspecting proxy in front of the
  # package registries) are needed by pip and apt inside image builds as well.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >>"$LOGS/debootstrap.log" 2>&1 \
      || fail_component debootstrap "update-ca-certificates in the base image failed"
  fi
  # Documentation, manuals and translations are a third of a minimal Debian and no process of a
  # run reads them; dpkg's excludes (as Debian's own slim images have) keep later apt installs,
  # the images' git and a run's apt_packages, from bringing them back. Licences stay.
  cat >"$root/etc/dpkg/dpkg.cfg.d/01-daskrun-slim" <<'EXCLUDES'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EXCLUDES
  find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/usr/share/lintian/*
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' \
    --change "ENV SSL_CERT_FILE=$ca PIP_CERT=$ca REQUESTS_CA_BUNDLE=$ca UV_NATIVE_TLS=1" \
    - "$BASE_IMAGE" >/dev/null
  drop_rootfs "$root"
  log "built $BASE_IMAGE"
}

# Single-binary images: pause (sandbox) and CoreDNS.
build_system() {
  "$HERE/build.sh" pause
  "$HERE/build.sh" coredns
  local ctx
  if ! have_image "$PAUSE_IMAGE"; then
    ctx="$(mktemp -d)"; cp "$BIN/pause" "$ctx/pause"
    tar -C "$ctx" -c pause | docker import --change 'ENTRYPOINT ["/pause"]' - "$PAUSE_IMAGE" >/dev/null
    rm -rf "$ctx"
  fi
  if ! have_image "$COREDNS_IMAGE"; then
    ctx="$(mktemp -d)"; mkdir -p "$ctx/etc/coredns" "$ctx/tmp"; cp "$BIN/coredns" "$ctx/coredns"
    tar -C "$ctx" -c . | docker import --change 'ENTRYPOINT ["/coredns"]' - "$COREDNS_IMAGE" >/dev/null
    rm -rf "$ctx"
  fi
}

# The project's image from the repository's Dockerfile, on the local base image.
build_project() {
  build_base
  log "docker build $IMAGE (BASE_IMAGE=$BASE_IMAGE)"
  local args=(--network host --build-arg "BASE_IMAGE=$BASE_IMAGE")
  # The build stage is tagged too, so it stays in the layer cache when old images are
  # pruned below (an untagged stage would count as dangling).
  local stage=(true)
  if grep -qiE '^FROM .* AS build\s*$' "$REPO_ROOT/Dockerfile"; then
    stage=(docker build "${args[@]}" --target build -t "${IMAGE%%:*}-buildstage:latest" "$REPO_ROOT")
  fi
  if ! { "${stage[@]}" && docker build "${args[@]}" -t "$IMAGE" "$REPO_ROOT" \
      && docker build "${args[@]}" --target worker -t "$WORKER_IMAGE" "$REPO_ROOT"; } \
      >"$LOGS/image-build.log" 2>&1; then
    fail_component image-build "docker build of $IMAGE and $WORKER_IMAGE failed"
  fi
  # Drop what earlier builds left behind (stopped build containers, superseded images).
  docker container prune -f >/dev/null 2>&1 || true
  docker image prune -f >/dev/null 2>&1 || true
}

# load IMAGE...: docker save | ctr import into containerd's k8s.io namespace.
load() {
  [[ -S "$CONTAINERD_SOCK" ]] || die "cluster containerd is not running (make cluster-up)"
  local img
  for img in "$@"; do
    log "importing $img into containerd"
    docker save "$img" | ctr_k8s images import - >/dev/null \
      || fail_component containerd "import of $img failed"
  done
}

# push_one CONFIG IMAGE NAME: IMAGE into the registry as NAME.
push_one() {
  log "pushing $2 to the cluster's registry as $3"
  docker tag "$2" "$3"
  if ! docker --config "$1" push "$3" >>"$LOGS/registry-push.log" 2>&1; then
    docker rmi "$3" >/dev/null 2>&1
    fail_component registry-push "docker push of $3 failed"
  fi
  docker rmi "$3" >/dev/null 2>&1 || true
}

# push: the project images into the cluster's registry ($REGISTRY_IMAGE, $REGISTRY_WORKER_IMAGE). docker logs in with
# a client config of its own in the registry's state dir (never ~/.docker); the registry tag
# is dropped again afterwards, so a rebuilt image leaves no old one referenced in the store.
push() {
  registry_ready || die "the cluster's registry is not running (make cluster-up)"
  local cfg="$REGISTRY_DIR/docker-client" t0=$SECONDS
  mkdir -p "$cfg"; chmod 700 "$cfg"
  docker --config "$cfg" login -u "$REGISTRY_USER" --password-stdin "$REGISTRY_ADDR" \
    <"$REGISTRY_DIR/password" >"$LOGS/registry-push.log" 2>&1 \
    || fail_component registry-push "docker login to $REGISTRY_ADDR failed"
  push_one "$cfg" "$IMAGE" "$REGISTRY_IMAGE"
  push_one "$cfg" "$WORKER_IMAGE" "$REGISTRY_WORKER_IMAGE"
  log "pushed $REGISTRY_IMAGE and $REGISTRY_WORKER_IMAGE in $((SECONDS - t0))s"
}

mkdir -p "$LOGS" "$CACHE_ROOT"
case "${1:-}" in
  dockerd) start_dockerd ;;
  base) start_dockerd; build_base ;;
  system) start_dockerd; build_system ;;
  project) start_dockerd; build_project ;;
  image) # make image: rebuild, and reload into the cluster when it runs
    start_dockerd; build_project
    if [[ -S "$CONTAINERD_SOCK" ]] && pid_alive containerd; then load "$IMAGE" "$WORKER_IMAGE"; fi
    if pid_alive registry; then push; fi ;;
  project-if-missing) start_dockerd; { have_image "$IMAGE" && have_image "$WORKER_IMAGE"; } || build_project ;;
  load-system) start_dockerd; build_system; load "$PAUSE_IMAGE" "$COREDNS_IMAGE" ;;
  load-project) start_dockerd; load "$IMAGE" "$WORKER_IMAGE" ;;
  push) start_dockerd; push ;;
  *) die "usage: $0 dockerd|base|system|project|project-if-missing|image|load-system|load-project|push" ;;
esac
exit
