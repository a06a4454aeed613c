#!/usr/bin/env bash
# Build the sandbox's container images from this machine's Debian binaries (no registry exists):
#   localhost/pause:local   the static pause binary built by build-k8s.sh
#   localhost/toolbox:1     busybox + ip/ss, ping, traceroute, tcpdump, dig/nslookup, strace, curl,
#                           ps, openssl, redis-cli and every shared library they load (the debug
#                           image and the workload image)
#   localhost/redis:7       redis-server + redis-cli + libraries
# Each image is a docker-archive tarball under $CACHE_DIR/images, named by a hash of its inputs
# (this script and the content of every file that goes in), so a warm machine never rebuilds.
# Prints "NAME=TARBALL" lines on stdout for `sandbox up` to import.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

IMAGES_DIR="$CACHE_DIR/images"
SELF_HASH=$(sha256sum "$0" | cut -c1-16)

# Tools that go into the toolbox, as host paths (real binaries take precedence over busybox
# applets of the same name).
TOOLBOX_BINS=(
  /usr/sbin/ip /usr/bin/ss /usr/bin/ping /usr/bin/traceroute.db /usr/bin/tcpdump
  /usr/bin/dig /usr/bin/nslookup /usr/bin/strace /usr/bin/curl /usr/bin/ps /usr/bin/top
  /usr/bin/openssl /usr/bin/redis-cli
)
REDIS_BINS=(/usr/bin/redis-server /usr/bin/redis-cli)

# Shared libraries (and the dynamic loader) a binary needs, one path per line.
libs_of() {
  ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' || true
}

# Copy a host file into the rootfs at its canonical directory (so /lib/x.so lands in
# usr/lib, matching the merged-/usr symlinks made by new_rootfs), keeping its own name.
put() {
  local src=$1 rootfs=$2 name=${3:-}
  local dir; dir=$(readlink -f "$(dirname "$src")")
  [ -n "$name" ] || name=$(basename "$src")
  mkdir -p "$rootfs$dir"
  cp -L --preserve=mode "$src" "$rootfs$dir/$name"
}

# A merged-/usr skeleton like Debian 12's, with the files every image needs.
new_rootfs() {
  local r=$1
  mkdir -p "$r"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,tmp,root,var/run,var/tmp,proc,sys,dev,data}
  ln -s usr/bin "$r/bin"; ln -s usr/sbin "$r/sbin"; ln -s usr/lib "$r/lib"; ln -s usr/lib64 "$r/lib64"
  chmod 1777 "$r/tmp" "$r/var/tmp"
  # tcpdump drops privileges to "tcpdump"; redis to "redis" when asked.
  cat > "$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
redis:x:999:999:redis:/data:/bin/false
tcpdump:x:998:998:tcpdump:/nonexistent:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat > "$r/etc/group" <<'EOF'
root:x:0:
redis:x:999:
tcpdump:x:998:
nogroup:x:65534:
EOF
  printf 'hosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n' > "$r/etc/nsswitch.conf"
  for f in /etc/services /etc/protocols; do [ -f "$f" ] && cp "$f" "$r/etc/"; done
  return 0
}

# Every input file of an image (for the cache key), one per line.
toolbox_inputs() {
  echo /usr/bin/busybox
  for b in "${TOOLBOX_BINS[@]}"; do echo "$b"; libs_of "$b"; done
  echo /etc/ssl/certs/ca-certificates.crt
  echo /etc/ssl/openssl.cnf
}
redis_inputs() { for b in "${REDIS_BINS[@]}"; do echo "$b"; libs_of "$b"; done; }
pause_inputs() { echo "$K8S_BIN_DIR/pause"; }

fill_toolbox() {
  local r=$1
  put /usr/bin/busybox "$r"
  local b name
  for b in "${TOOLBOX_BINS[@]}"; do
    name=$(basename "$b"); [ "$name" = traceroute.db ] && name=traceroute
    put "$b" "$r" "$name"
    for l in $(libs_of "$b"); do put "$l" "$r"; done
  done
  # busybox applets (sh, ls, wget, nc, netstat, lsof, httpd, ...) as symlinks, except where a
  # real tool is already there.
  local applet
  while read -r applet; do
    [ -e "$r/usr/bin/$(basename "$applet")" ] || [ -e "$r/usr/sbin/$(basename "$applet")" ] && continue
    [ -e "$r/$applet" ] || [ -L "$r/$applet" ] && continue
    mkdir -p "$r/$(dirname "$applet")"
    ln -s /usr/bin/busybox "$r/$applet"
  done < <(/usr/bin/busybox --list-full | sed 's#^/##')
  # openssl and curl: config and trust store at Debian's paths.
  mkdir -p "$r/etc/ssl/certs" "$r/usr/lib/ssl"
  cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"
  cp /etc/ssl/openssl.cnf "$r/etc/ssl/"
  ln -s /etc/ssl/openssl.cnf "$r/usr/lib/ssl/openssl.cnf"
  ln -s /etc/ssl/certs "$r/usr/lib/ssl/certs"
  mkdir -p "$r/www"
}

fill_redis() {
  local r=$1 b
  for b in "${REDIS_BINS[@]}"; do
    put "$b" "$r"
    for l in $(libs_of "$b"); do put "$l" "$r"; done
  done
  # busybox sh for exec probes and debugging sessions inside the redis pod.
  put /usr/bin/busybox "$r"
  ln -s busybox "$r/usr/bin/sh"
}

fill_pause() {
  local r=$1
  mkdir -p "$r"
  cp "$K8S_BIN_DIR/pause" "$r/pause"
}

# build NAME REF KIND CMD-JSON-ISH...: builds (or reuses) the tarball of one image.
build_image() {
  local name=$1 ref=$2 kind=$3; shift 3
  local key
  key=$( { echo "$SELF_HASH $ref"; "${kind}_inputs" | sort -u | xargs -r sha256sum; } | sha256sum | cut -c1-16)
  local tarball="$IMAGES_DIR/$name-$key.tar"
  if [ -s "$tarball" ]; then echo "$ref=$tarball"; return 0; fi

  step "building image $ref"
  local work; work=$(mktemp -d "$IMAGES_DIR/.build-$name.XXXXXX")
  local rootfs="$work/rootfs"
  if [ "$kind" = pause ]; then mkdir -p "$rootfs"; else new_rootfs "$rootfs"; fi
  "fill_$kind" "$rootfs"
  local tag=${ref##*:}
  umoci init --layout "$work/oci" >&2
  umoci new --image "$work/oci:$tag" >&2
  umoci insert --image "$work/oci:$tag" "$rootfs" / >&2
  local cfg=(--image "$work/oci:$tag" --os linux --architecture amd64 --author "kubectl-ops sandbox"
             --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
  local c; for c in "$@"; do cfg+=("$c"); done
  umoci config "${cfg[@]}" >&2
  rm -f "$IMAGES_DIR/$name-"*.tar   # older builds of the same image
  skopeo copy --quiet "oci:$work/oci:$tag" "docker-archive:$tarball.tmp:$ref" >&2
  mv "$tarball.tmp" "$tarball"
  rm -rf "$work"
  printf '    %s: %s\n' "$ref" "$(du -h "$tarball" | cut -f1)" >&2
  done_step
  echo "$ref=$tarball"
}

main() {
  mkdir -p "$IMAGES_DIR"
  rm -rf "$IMAGES_DIR"/.build-*
  [ -x "$K8S_BIN_DIR/pause" ] || die "no pause binary in $K8S_BIN_DIR: run build-k8s.sh first"
  build_image pause localhost/pause:local pause --config.entrypoint /pause
  build_image toolbox localhost/toolbox:1 toolbox --config.cmd /bin/sh --config.workingdir /
  build_image redis localhost/redis:7 redis --config.workingdir /data \
    --config.cmd redis-server --config.exposedports 6379/tcp
}

main "$@"
